//! Stored form of payment events, with the upcasters of older versions.
//!
//! `PaymentRequested` v1 (before providers were pluggable) had no `provider` field: every
//! payment then went through manual collection, so v1 reads as `provider: "manual"`.
//! `PaymentRefunded` v1 (before refunds were asked of the provider) had no `request`.

use serde_json::Value;

use super::{PaymentEvent, AGGREGATE_TYPE};
use crate::codec::{event_codec, from_payload};

/// The provider that v1 payments went through.
const V1_PROVIDER: &str = "manual";

event_codec! {
    PaymentEvent, AGGREGATE_TYPE,
    current {
        PaymentRequested => "PaymentRequested" v 2,
        PaymentAuthorized => "PaymentAuthorized" v 1,
        PaymentCaptured => "PaymentCaptured" v 1,
        PaymentFailed => "PaymentFailed" v 1,
        PaymentRefunded => "PaymentRefunded" v 2,
        PaymentRefundRequested => "PaymentRefundRequested" v 1,
        PaymentRefundFailed => "PaymentRefundFailed" v 1,
        PaymentRefundApprovalAsked => "PaymentRefundApprovalAsked" v 1,
        PaymentRefundApproved => "PaymentRefundApproved" v 1,
        PaymentRefundRejected => "PaymentRefundRejected" v 1,
        PaymentVoided => "PaymentVoided" v 1,
        PaymentVoidRequested => "PaymentVoidRequested" v 1,
        PaymentCaptureRequested => "PaymentCaptureRequested" v 1,
        PaymentCaptureFailed => "PaymentCaptureFailed" v 1,
        PaymentMismatchFound => "PaymentMismatchFound" v 1,
        PaymentVoidFailed => "PaymentVoidFailed" v 1,
        PaymentDisputed => "PaymentDisputed" v 1,
        PaymentDisputeClosed => "PaymentDisputeClosed" v 1,
    }
    older {
        ("PaymentRequested", 1) => |t, v, payload: &Value| {
            from_payload(t, v, &upcast_requested_v1(payload.clone()))
                .map(PaymentEvent::PaymentRequested)
        },
        // v1 answered no request of ours: it reads as `request: null`.
        ("PaymentRefunded", 1) => |t, v, payload: &Value| {
            from_payload(t, v, payload).map(PaymentEvent::PaymentRefunded)
        },
    }
}

/// `PaymentRequested` v1 -> v2: add `provider: "manual"` unless (oddly) present.
fn upcast_requested_v1(mut payload: Value) -> Value {
    if let Value::Object(fields) = &mut payload {
        fields
            .entry("provider")
            .or_insert_with(|| Value::String(V1_PROVIDER.to_owned()));
    }
    payload
}
