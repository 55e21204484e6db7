//! The User decider: every command in every state.

use domain::{
    user::{
        Role, User, UserCommand, UserCreated, UserDeactivated, UserError, UserEvent,
        UserPasswordChanged, UserPasswordResetIssued, UserRoleChanged,
    },
    Decider,
};

use crate::support::{in_every_state, now, text, Outcome};

type O = Outcome<User>;

pub fn e_created(name: &str, role: Role) -> UserEvent {
    UserEvent::UserCreated(UserCreated {
        name: text(name),
        role,
        created_at: now(),
    })
}

pub fn e_role_changed(from: Role, to: Role) -> UserEvent {
    UserEvent::UserRoleChanged(UserRoleChanged {
        name: text("ana"),
        from,
        to,
        changed_at: now(),
    })
}

pub fn e_deactivated() -> UserEvent {
    UserEvent::UserDeactivated(UserDeactivated {
        name: text("ana"),
        deactivated_at: now(),
    })
}

pub fn e_password_changed() -> UserEvent {
    UserEvent::UserPasswordChanged(UserPasswordChanged {
        name: text("ana"),
        changed_at: now(),
    })
}

pub fn e_reset_issued() -> UserEvent {
    UserEvent::UserPasswordResetIssued(UserPasswordResetIssued {
        name: text("ana"),
        expires_at: now() + chrono::Duration::hours(1),
        issued_at: now(),
    })
}

const STATES: usize = 4;

/// Not created, an active viewer, an active finance user (its role changed), deactivated.
fn table(outcomes: [O; STATES]) -> Vec<(&'static str, Vec<UserEvent>, O)> {
    let states = [
        ("not created", vec![]),
        ("active", vec![e_created("ana", Role::Viewer)]),
        (
            "active after a role change",
            vec![
                e_created("ana", Role::Viewer),
                e_role_changed(Role::Viewer, Role::Finance),
            ],
        ),
        (
            "deactivated",
            vec![e_created("ana", Role::Viewer), e_deactivated()],
        ),
    ];
    states
        .into_iter()
        .zip(outcomes)
        .map(|((name, history), outcome)| (name, history, outcome))
        .collect()
}

#[test]
fn creating_is_decided_in_every_state() {
    in_every_state(
        UserCommand::Create {
            name: text("ana"),
            role: Role::Viewer,
        },
        table([
            O::Emits(vec![e_created("ana", Role::Viewer)]),
            O::Nothing,
            O::Refused(UserError::AlreadyExists),
            O::Nothing,
        ]),
    );
    in_every_state(
        UserCommand::Create {
            name: text("bea"),
            role: Role::Viewer,
        },
        table([
            O::Emits(vec![e_created("bea", Role::Viewer)]),
            O::Refused(UserError::AlreadyExists),
            O::Refused(UserError::AlreadyExists),
            O::Refused(UserError::AlreadyExists),
        ]),
    );
}

#[test]
fn changing_the_role_is_decided_in_every_state() {
    in_every_state(
        UserCommand::ChangeRole {
            role: Role::Finance,
        },
        table([
            O::Refused(UserError::NotFound),
            O::Emits(vec![e_role_changed(Role::Viewer, Role::Finance)]),
            O::Nothing,
            O::Refused(UserError::Deactivated),
        ]),
    );
    in_every_state(
        UserCommand::ChangeRole { role: Role::Viewer },
        table([
            O::Refused(UserError::NotFound),
            O::Nothing,
            O::Emits(vec![e_role_changed(Role::Finance, Role::Viewer)]),
            O::Refused(UserError::Deactivated),
        ]),
    );
}

#[test]
fn deactivating_is_decided_in_every_state() {
    in_every_state(
        UserCommand::Deactivate,
        table([
            O::Refused(UserError::NotFound),
            O::Emits(vec![e_deactivated()]),
            O::Emits(vec![e_deactivated()]),
            O::Nothing,
        ]),
    );
}

#[test]
fn setting_the_password_is_decided_in_every_state() {
    in_every_state(
        UserCommand::SetPassword,
        table([
            O::Refused(UserError::NotFound),
            O::Emits(vec![e_password_changed()]),
            O::Emits(vec![e_password_changed()]),
            O::Refused(UserError::Deactivated),
        ]),
    );
}

#[test]
fn issuing_a_reset_link_is_decided_in_every_state() {
    in_every_state(
        UserCommand::IssueReset {
            expires_at: now() + chrono::Duration::hours(1),
        },
        table([
            O::Refused(UserError::NotFound),
            O::Emits(vec![e_reset_issued()]),
            O::Emits(vec![e_reset_issued()]),
            O::Refused(UserError::Deactivated),
        ]),
    );
}

#[test]
fn a_user_folds_to_its_last_role_and_whether_it_is_active() {
    let user = User::fold(&[
        e_created("ana", Role::Viewer),
        e_role_changed(Role::Viewer, Role::Finance),
        e_deactivated(),
    ])
    .unwrap();
    assert_eq!(user.name, text("ana"));
    assert_eq!(user.role, Role::Finance);
    assert!(!user.active);
}

#[test]
fn every_role_is_found_by_its_name_and_no_other_name_is_a_role() {
    for role in Role::ALL {
        assert_eq!(Role::named(role.name()), Some(role));
        assert_eq!(
            serde_json::to_value(role).unwrap(),
            serde_json::json!(role.name())
        );
    }
    assert_eq!(Role::ALL.len(), 5);
    assert_eq!(Role::named("root"), None);
    assert_eq!(Role::named("Finance"), None);
}
