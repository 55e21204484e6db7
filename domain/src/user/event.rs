//! What happened to a user. Each payload struct is the stored JSON of its event type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Role;
use crate::NonEmptyText;

/// An event of the user stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// Created, with a first role.
    UserCreated(UserCreated),
    /// Given another role.
    UserRoleChanged(UserRoleChanged),
    /// Its access ended.
    UserDeactivated(UserDeactivated),
    /// Its password was set or changed (what it is, is not in the log).
    UserPasswordChanged(UserPasswordChanged),
    /// A one-time link to set its password was issued (the link is not in the log).
    UserPasswordResetIssued(UserPasswordResetIssued),
}

/// A user created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// Its name.
    pub name: NonEmptyText,
    /// Its first role.
    pub role: Role,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A user given another role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRoleChanged {
    /// Its name, so that the event reads whole in the audit trail.
    pub name: NonEmptyText,
    /// The role it had.
    pub from: Role,
    /// The role it has now.
    pub to: Role,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// A user's access ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeactivated {
    /// Its name.
    pub name: NonEmptyText,
    /// When.
    pub deactivated_at: DateTime<Utc>,
}

/// A user's password set or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPasswordChanged {
    /// Its name.
    pub name: NonEmptyText,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// A one-time link to set a user's password issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPasswordResetIssued {
    /// Its name.
    pub name: NonEmptyText,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}
