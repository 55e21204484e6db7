//! Stored form of attention events. All are at version 1.

use super::{AttentionEvent, AGGREGATE_TYPE};
use crate::codec::event_codec;

event_codec! {
    AttentionEvent, AGGREGATE_TYPE,
    current {
        AttentionRaised => "AttentionRaised" v 1,
        AttentionRetryRequested => "AttentionRetryRequested" v 1,
        AttentionRetryFailed => "AttentionRetryFailed" v 1,
        AttentionResolved => "AttentionResolved" v 1,
        AttentionDismissed => "AttentionDismissed" v 1,
    }
}
