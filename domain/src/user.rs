//! The User aggregate: a person or machine that calls the back office, with one role. Creating
//! a user, changing its role and deactivating it are events of its stream, so the audit trail
//! answers who gave whom which role, and when (the actor is in each event's metadata). The
//! credentials (API tokens, kept as hashes) are not events: secrets stay out of the log.

mod codec;
mod event;

pub use codec::{decode, encode, EVENT_TYPES};
pub use event::*;

use crate::{decider::Decider, Context, NonEmptyText};

/// The stream type of users in the log.
pub const AGGREGATE_TYPE: &str = "user";

/// A role: a named set of permissions (which permissions, the API decides: ADR 0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users and tokens.
    Admin,
    /// Runs orders and shipments day to day; may request payments, not move money; reads the
    /// customers' contact data (to reach them about an order).
    Operator,
    /// Moves money: captures, refunds, voids.
    Finance,
    /// Reads everything but personal contact data, and the audit trail; changes nothing.
    Auditor,
    /// Reads orders, payments, shipments, the catalog and the reports.
    Viewer,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 5] = [
        Self::Admin,
        Self::Operator,
        Self::Finance,
        Self::Auditor,
        Self::Viewer,
    ];

    /// Its name (`finance`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Finance => "finance",
            Self::Auditor => "auditor",
            Self::Viewer => "viewer",
        }
    }

    /// The role called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.name() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A command to a user.
/// Its name (`snake_case` of the variant) labels the command in metrics.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum UserCommand {
    /// Create the user, named `name`, with `role`.
    Create {
        /// The name it signs in and is named by in events' metadata (`user:{name}`).
        name: NonEmptyText,
        /// Its first role.
        role: Role,
    },
    /// Give the user another role, from its next request on.
    ChangeRole {
        /// The new role.
        role: Role,
    },
    /// End the user's access: its credentials are refused from the next request on. The user
    /// stays, so that the events it caused keep naming it.
    Deactivate,
    /// Set (or change) the user's password: the event says so; the secret stays out of the log.
    SetPassword,
    /// Issue a one-time link to set the user's password, valid until `expires_at` (the link's
    /// token stays out of the log).
    IssueReset {
        /// When the link stops working.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

/// Why a user command is refused.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum UserError {
    /// A change of a user that does not exist.
    #[error("no such user")]
    NotFound,
    /// Creating a user that exists (under another name or role).
    #[error("the user exists")]
    AlreadyExists,
    /// A role or password change of a deactivated user.
    #[error("the user is deactivated")]
    Deactivated,
}

impl crate::Rule for UserError {
    fn rule(&self) -> &'static str {
        self.into()
    }

    fn is_missing(&self) -> bool {
        matches!(self, Self::NotFound)
    }
}

/// A user as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    /// Its name.
    pub name: NonEmptyText,
    /// Its role.
    pub role: Role,
    /// Whether its credentials are accepted.
    pub active: bool,
}

/// The User decider. Its state is `None` until created.
#[derive(Debug, Clone, Copy, Default)]
pub struct User;

impl Decider for User {
    type State = Option<UserState>;
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = UserError;

    fn decide(
        state: &Self::State,
        command: UserCommand,
        ctx: &Context,
    ) -> Result<Vec<UserEvent>, UserError> {
        let now = ctx.now();
        let Some(user) = state else {
            return match command {
                UserCommand::Create { name, role } => {
                    Ok(vec![UserEvent::UserCreated(UserCreated {
                        name,
                        role,
                        created_at: now,
                    })])
                }
                UserCommand::ChangeRole { .. }
                | UserCommand::Deactivate
                | UserCommand::SetPassword
                | UserCommand::IssueReset { .. } => Err(UserError::NotFound),
            };
        };
        match command {
            // The same creation again (a retried command): nothing new.
            UserCommand::Create { name, role } if name == user.name && role == user.role => {
                Ok(vec![])
            }
            UserCommand::Create { .. } => Err(UserError::AlreadyExists),
            UserCommand::ChangeRole { .. } if !user.active => Err(UserError::Deactivated),
            UserCommand::ChangeRole { role } if role == user.role => Ok(vec![]),
            UserCommand::ChangeRole { role } => {
                Ok(vec![UserEvent::UserRoleChanged(UserRoleChanged {
                    name: user.name.clone(),
                    from: user.role,
                    to: role,
                    changed_at: now,
                })])
            }
            UserCommand::SetPassword | UserCommand::IssueReset { .. } if !user.active => {
                Err(UserError::Deactivated)
            }
            UserCommand::IssueReset { expires_at } => Ok(vec![UserEvent::UserPasswordResetIssued(
                UserPasswordResetIssued {
                    name: user.name.clone(),
                    expires_at,
                    issued_at: now,
                },
            )]),
            UserCommand::SetPassword => {
                Ok(vec![UserEvent::UserPasswordChanged(UserPasswordChanged {
                    name: user.name.clone(),
                    changed_at: now,
                })])
            }
            UserCommand::Deactivate if !user.active => Ok(vec![]),
            UserCommand::Deactivate => Ok(vec![UserEvent::UserDeactivated(UserDeactivated {
                name: user.name.clone(),
                deactivated_at: now,
            })]),
        }
    }

    fn evolve(state: &mut Self::State, event: &UserEvent) {
        match (state.as_mut(), event) {
            (_, UserEvent::UserCreated(created)) => {
                *state = Some(UserState {
                    name: created.name.clone(),
                    role: created.role,
                    active: true,
                });
            }
            (Some(user), UserEvent::UserRoleChanged(changed)) => user.role = changed.to,
            (Some(user), UserEvent::UserDeactivated(_)) => user.active = false,
            (_, UserEvent::UserPasswordChanged(_) | UserEvent::UserPasswordResetIssued(_)) => {}
            (None, UserEvent::UserRoleChanged(_) | UserEvent::UserDeactivated(_)) => {}
        }
    }
}
