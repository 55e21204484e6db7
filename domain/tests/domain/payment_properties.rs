//! Property tests of the Payment decider over random command sequences.

use domain::{
    payment::{self, Payment, PaymentCommand, PaymentState},
    Decider,
};
use proptest::prelude::*;

use crate::support::{code, ctx, eur, ext, order_id, payment_id, text, usd};

/// Random amounts, and amounts that add up exactly to the requested 100.00 (so that sequences
/// reach "captured" and "refunded", where the boundaries are).
fn money(max: i64) -> impl Strategy<Value = domain::Money> {
    prop_oneof![
        5 => (-10i64..max).prop_map(eur),
        4 => prop::sample::select(vec![2_500i64, 5_000, 10_000]).prop_map(eur),
        1 => (1i64..max).prop_map(usd),
    ]
}

fn reference(prefix: &'static str, n: u8) -> impl Strategy<Value = domain::ExternalRef> {
    (1..=n).prop_map(move |i| ext(&format!("{prefix}_{i}")))
}

fn request() -> PaymentCommand {
    PaymentCommand::RequestPayment {
        payment_id: payment_id(1),
        order_id: order_id(),
        amount: eur(10_000),
        provider: code("stripe"),
    }
}

fn command() -> impl Strategy<Value = PaymentCommand> {
    prop_oneof![
        Just(request()),
        (reference("pi", 2), money(12_000)).prop_map(|(provider_reference, amount)| {
            PaymentCommand::RecordAuthorization {
                provider_reference,
                amount,
            }
        }),
        (
            reference("ch", 4),
            money(6_000),
            prop::option::of(reference("pi", 2))
        )
            .prop_map(|(capture_id, amount, provider_reference)| {
                PaymentCommand::CapturePayment {
                    capture_id,
                    amount,
                    provider_reference,
                }
            }),
        Just(PaymentCommand::RecordFailure {
            code: code("card_declined"),
            message: text("declined"),
        }),
        (
            reference("re", 3),
            money(6_000),
            prop::option::of(reference("refund", 2))
        )
            .prop_map(|(refund_id, amount, request)| {
                PaymentCommand::RefundPayment {
                    refund_id,
                    amount,
                    request,
                }
            }),
        (reference("refund", 2), money(6_000))
            .prop_map(|(reference, amount)| PaymentCommand::RequestRefund { reference, amount }),
        (reference("refund", 3), money(6_000), 1..=2_u8).prop_map(|(reference, amount, who)| {
            PaymentCommand::AskRefundApproval {
                reference,
                amount,
                requested_by: text(&format!("user:{who}")),
            }
        }),
        (reference("refund", 3), 1..=2_u8).prop_map(|(reference, who)| {
            PaymentCommand::ApproveRefund {
                reference,
                approved_by: text(&format!("user:{who}")),
            }
        }),
        reference("refund", 3).prop_map(|reference| PaymentCommand::RejectRefund {
            reference,
            rejected_by: text("user:3"),
            reason: text("no"),
        }),
        reference("refund", 2).prop_map(|reference| PaymentCommand::RecordRefundFailed {
            reference,
            code: code("charge_disputed"),
            message: text("disputed"),
        }),
        Just(PaymentCommand::VoidPayment {
            reason: text("random")
        }),
        Just(PaymentCommand::RequestVoid {
            reason: text("random")
        }),
        Just(PaymentCommand::RecordVoidFailed {
            code: code("payment_intent_unexpected_state"),
            message: text("captured"),
        }),
        (reference("dp", 2), money(6_000)).prop_map(|(dispute_id, amount)| {
            PaymentCommand::RecordDispute {
                dispute_id,
                amount,
                reason: text("fraudulent"),
            }
        }),
    ]
}

fn commands() -> impl Strategy<Value = Vec<PaymentCommand>> {
    (any::<u8>(), prop::collection::vec(command(), 1..30)).prop_map(|(roll, mut commands)| {
        if roll % 8 != 0 {
            commands.insert(0, request());
        }
        commands
    })
}

fn check_invariants(payment: &PaymentState) -> Result<(), TestCaseError> {
    let (refunded, captured, authorized) = (
        payment.refunded.amount_minor,
        payment.captured.amount_minor,
        payment.authorized().amount_minor,
    );
    prop_assert!(
        0 <= refunded && refunded <= captured,
        "refunded {} captured {}",
        refunded,
        captured
    );
    prop_assert!(
        captured <= authorized,
        "captured {} authorized {}",
        captured,
        authorized
    );
    prop_assert!(!(payment.voided && captured > 0), "voided after capture");
    for (reference, approval) in &payment.refund_approvals {
        // Approved refunds went on to a refund request or a refund under their reference.
        if approval.decision.as_ref().is_some_and(|d| d.approved) {
            prop_assert!(
                payment.refund_requests.contains_key(reference)
                    || payment.refund_ids.contains(reference),
                "approved {} without a refund",
                reference
            );
        }
    }
    let pending = payment.refund_pending().amount_minor;
    prop_assert!(
        refunded + pending <= captured,
        "refunded {} and asked {} of captured {}",
        refunded,
        pending,
        captured
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn payment_state_rebuilt_from_its_events_equals_the_state_reached_while_deciding(
        commands in commands()
    ) {
        let ctx = ctx();
        let mut state = None;
        let mut history = Vec::new();
        for command in commands {
            if let Ok(events) = Payment::decide(&state, command, &ctx) {
                for event in &events {
                    Payment::evolve(&mut state, event);
                    let stored = payment::encode(event);
                    let decoded = payment::decode(stored.event_type, stored.event_version, &stored.payload).unwrap();
                    prop_assert_eq!(&decoded, event);
                }
                history.extend(events);
            }
            if let Some(payment) = &state {
                check_invariants(payment)?;
            }
        }
        prop_assert_eq!(Payment::fold(&history), state);
    }
}
