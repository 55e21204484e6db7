//! Stored form of user events. All are at version 1.

use super::{UserEvent, AGGREGATE_TYPE};
use crate::codec::event_codec;

event_codec! {
    UserEvent, AGGREGATE_TYPE,
    current {
        UserCreated => "UserCreated" v 1,
        UserRoleChanged => "UserRoleChanged" v 1,
        UserDeactivated => "UserDeactivated" v 1,
        UserPasswordChanged => "UserPasswordChanged" v 1,
        UserPasswordResetIssued => "UserPasswordResetIssued" v 1,
    }
}
