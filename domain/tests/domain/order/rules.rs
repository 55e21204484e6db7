//! The order rules, each as its own named test.

use domain::{
    order::{
        FulfillmentStatus, Order, OrderCommand, OrderError, OrderEvent, OrderPaymentStatus,
        OrderStatus, PaymentDue, PlaceOrder,
    },
    Decider, Money,
};

use crate::support::{ctx, eur, ext, given, qty, sku, usd};

use super::fixtures::*;

// ---- the rules, by name -------------------------------------------------------------------------

#[test]
fn cancel_after_dispatch_is_refused() {
    given::<Order>(h_dispatched())
        .when(cancel())
        .then_error(OrderError::CancelAfterDispatch);
}

#[test]
fn cancelling_twice_is_refused() {
    given::<Order>(h_cancelled())
        .when(cancel())
        .then_error(OrderError::AlreadyCancelled);
}

#[test]
fn cancel_with_captured_money_names_the_refund_that_must_follow() {
    let history = vec![
        placed(),
        requested(p1(), 5_000),
        paid(p1(), 3_000, 3_000),
        refunded(p1(), 500, 500),
    ];
    let state = given::<Order>(history)
        .when(cancel())
        .then_expect(vec![cancelled(vec![(p1(), 2_500)], vec![], vec![])])
        .unwrap();
    assert_eq!(state.status, OrderStatus::Cancelled);
    assert_eq!(
        state.refunds_due(),
        vec![PaymentDue {
            payment_id: p1(),
            amount: eur(2_500)
        }]
    );
    assert!(state.voids_due().is_empty());

    // Once the refund is recorded, nothing remains due.
    let state = given::<Order>(vec![
        placed(),
        requested(p1(), 5_000),
        paid(p1(), 3_000, 3_000),
        refunded(p1(), 500, 500),
        cancelled(vec![(p1(), 2_500)], vec![], vec![]),
    ])
    .when(record_refund(p1(), eur(3_000)))
    .then_expect(vec![refunded(p1(), 2_500, 3_000)])
    .unwrap();
    assert!(state.refunds_due().is_empty());
    assert_eq!(state.payment_status(), OrderPaymentStatus::Refunded);
}

#[test]
fn cancel_with_an_open_payment_names_the_void_that_must_follow() {
    let history = vec![
        placed(),
        requested(p1(), 5_000),
        requested(p2(), 5_000),
        closed(p2()),
    ];
    let state = given::<Order>(history)
        .when(cancel())
        .then_expect(vec![cancelled(vec![], vec![p1()], vec![])])
        .unwrap();
    assert_eq!(state.voids_due(), vec![p1()]);
    assert!(state.refunds_due().is_empty());

    let state = given::<Order>(vec![
        placed(),
        requested(p1(), 5_000),
        cancelled(vec![], vec![p1()], vec![]),
    ])
    .when(OrderCommand::RecordPaymentClosed { payment_id: p1() })
    .then_expect(vec![closed(p1())])
    .unwrap();
    assert!(state.voids_due().is_empty());
}

#[test]
fn cancel_names_the_undispatched_shipments_to_cancel() {
    let history = vec![
        placed(),
        allocated(s1(), vec![line("MUG", 1)]),
        allocated(s2(), vec![line("MUG", 1)]),
        released(s2()),
    ];
    given::<Order>(history)
        .when(cancel())
        .then_expect(vec![cancelled(vec![], vec![], vec![s1()])]);
}

#[test]
fn allocation_above_what_remains_is_refused() {
    given::<Order>(vec![placed(), allocated(s1(), vec![line("MUG", 1)])])
        .when(allocate(s2(), vec![line("MUG", 2)]))
        .then_error(OrderError::AllocationExceedsRemaining);
    given::<Order>(h_placed())
        .when(allocate(s1(), vec![line("TEAPOT", 2)]))
        .then_error(OrderError::AllocationExceedsRemaining);
}

#[test]
fn a_released_allocation_gives_its_quantities_back() {
    let history = [h_released(), vec![]].concat();
    let state = given::<Order>(history)
        .when(allocate(s2(), vec![line("MUG", 2)]))
        .then_expect(vec![allocated(s2(), vec![line("MUG", 2)])])
        .unwrap();
    assert_eq!(state.allocated(&sku("MUG")), 2);
}

#[test]
fn an_allocation_must_name_known_skus_once_each() {
    given::<Order>(h_placed())
        .when(allocate(s1(), vec![line("SPOON", 1)]))
        .then_error(OrderError::UnknownSku);
    given::<Order>(h_placed())
        .when(allocate(s1(), vec![line("MUG", 1), line("MUG", 1)]))
        .then_error(OrderError::DuplicateSku);
    given::<Order>(h_placed())
        .when(allocate(s1(), vec![]))
        .then_error(OrderError::EmptyAllocation);
    given::<Order>(h_allocated())
        .when(allocate(s1(), vec![line("MUG", 1)]))
        .then_error(OrderError::ShipmentAlreadyAllocated);
}

#[test]
fn two_partial_shipments_end_in_delivered() {
    let mut history = vec![placed(), paid(p1(), 5_000, 5_000)];
    let steps: Vec<(OrderCommand, FulfillmentStatus)> = vec![
        (
            allocate(s1(), vec![line("MUG", 2)]),
            FulfillmentStatus::Unfulfilled,
        ),
        (
            allocate(s2(), vec![line("TEAPOT", 1)]),
            FulfillmentStatus::Unfulfilled,
        ),
        (
            OrderCommand::RecordShipmentDispatched { shipment_id: s1() },
            FulfillmentStatus::PartiallyShipped,
        ),
        (
            OrderCommand::RecordShipmentDispatched { shipment_id: s2() },
            FulfillmentStatus::Shipped,
        ),
        (
            OrderCommand::RecordShipmentDelivered { shipment_id: s1() },
            FulfillmentStatus::PartiallyDelivered,
        ),
        (
            OrderCommand::RecordShipmentDelivered { shipment_id: s2() },
            FulfillmentStatus::Delivered,
        ),
    ];
    for (command, status) in steps {
        let state = Order::fold(&history);
        let events = Order::decide(&state, command, &crate::support::ctx()).unwrap();
        assert_eq!(events.len(), 1);
        history.extend(events);
        assert_eq!(Order::fold(&history).unwrap().fulfillment_status(), status);
    }
    given::<Order>(history)
        .when(OrderCommand::CompleteOrder)
        .then_expect(vec![completed()]);
}

#[test]
fn a_returned_shipment_makes_the_order_returned() {
    let state = Order::fold(&h_returned()).unwrap();
    assert_eq!(state.fulfillment_status(), FulfillmentStatus::Returned);
}

#[test]
fn overpayment_is_flagged_not_lost() {
    let state = given::<Order>(vec![placed(), paid(p1(), 5_000, 5_000)])
        .when(record_payment(p2(), eur(1_200)))
        .then_expect(vec![paid(p2(), 1_200, 1_200), overpaid(6_200, 5_000)])
        .unwrap();
    assert_eq!(state.overpaid, Some(eur(1_200)));
    assert_eq!(state.paid, eur(6_200));
    assert_eq!(state.payment_status(), OrderPaymentStatus::Paid);
}

#[test]
fn money_arriving_on_a_cancelled_order_is_flagged_as_overpaid() {
    given::<Order>(h_cancelled())
        .when(record_payment(p1(), eur(5_000)))
        .then_expect(vec![paid(p1(), 5_000, 5_000), overpaid(5_000, 0)]);
}

#[test]
fn a_repeated_or_stale_payment_total_changes_nothing() {
    let history = vec![placed(), paid(p1(), 3_000, 3_000)];
    given::<Order>(history.clone())
        .when(record_payment(p1(), eur(3_000)))
        .then_nothing();
    given::<Order>(history.clone())
        .when(record_payment(p1(), eur(1_000)))
        .then_nothing();
    let state = given::<Order>(history)
        .when(record_payment(p1(), eur(5_000)))
        .then_expect(vec![paid(p1(), 2_000, 5_000)])
        .unwrap();
    assert_eq!(state.payment_status(), OrderPaymentStatus::Paid);
}

#[test]
fn payment_status_follows_captures_and_refunds() {
    let status = |history: Vec<OrderEvent>| Order::fold(&history).unwrap().payment_status();
    assert_eq!(status(h_placed()), OrderPaymentStatus::Unpaid);
    assert_eq!(
        status(vec![placed(), paid(p1(), 1, 1)]),
        OrderPaymentStatus::PartiallyPaid
    );
    assert_eq!(status(h_paid()), OrderPaymentStatus::Paid);
    assert_eq!(
        status([h_paid(), vec![refunded(p1(), 1_000, 1_000)]].concat()),
        OrderPaymentStatus::PartiallyRefunded
    );
    assert_eq!(
        status([h_paid(), vec![refunded(p1(), 5_000, 5_000)]].concat()),
        OrderPaymentStatus::Refunded
    );
}

#[test]
fn a_partial_refund_does_not_stop_completion_but_a_full_one_does() {
    given::<Order>([h_ready(), vec![refunded(p1(), 500, 500)]].concat())
        .when(OrderCommand::CompleteOrder)
        .then_expect(vec![completed()]);
    given::<Order>([h_ready(), vec![refunded(p1(), 5_000, 5_000)]].concat())
        .when(OrderCommand::CompleteOrder)
        .then_error(OrderError::NotFullyPaid);
}

#[test]
fn mixed_currencies_are_refused() {
    let mut place_in_two_currencies = place();
    place_in_two_currencies.lines[1].unit_price = usd(3_000);
    given::<Order>(vec![])
        .when(OrderCommand::PlaceOrder(place_in_two_currencies))
        .then_error(OrderError::CurrencyMismatch);
    given::<Order>(h_placed())
        .when(record_payment(p1(), usd(5_000)))
        .then_error(OrderError::CurrencyMismatch);
    given::<Order>(h_paid())
        .when(record_refund(p1(), usd(5_000)))
        .then_error(OrderError::CurrencyMismatch);
    given::<Order>(h_placed())
        .when(OrderCommand::RecordPaymentRequested {
            payment_id: p1(),
            amount: usd(5_000),
        })
        .then_error(OrderError::CurrencyMismatch);
}

#[test]
fn an_order_needs_lines_with_unique_skus_and_prices_not_below_zero() {
    let with = |edit: fn(&mut PlaceOrder)| {
        let mut place = place();
        edit(&mut place);
        OrderCommand::PlaceOrder(place)
    };
    given::<Order>(vec![])
        .when(with(|p| p.lines.clear()))
        .then_error(OrderError::NoLines);
    given::<Order>(vec![])
        .when(with(|p| p.lines[1].sku = sku("MUG")))
        .then_error(OrderError::DuplicateSku);
    given::<Order>(vec![])
        .when(with(|p| p.lines[0].unit_price = eur(-1)))
        .then_error(OrderError::NegativePrice);
    given::<Order>(vec![])
        .when(with(|p| p.lines[0].unit_price = eur(i64::MAX)))
        .then_error(OrderError::TotalTooLarge);
    // A total above 10^15 minor units (sums of many stay far from overflowing)...
    given::<Order>(vec![])
        .when(with(|p| {
            p.lines[0].unit_price = eur(Money::MAX_AMOUNT_MINOR)
        }))
        .then_error(OrderError::TotalTooLarge);
    // ...and one at it is taken.
    let at_the_limit = with(|p| {
        p.lines.truncate(1);
        p.lines[0].quantity = qty(1);
        p.lines[0].unit_price = eur(Money::MAX_AMOUNT_MINOR);
    });
    assert!(Order::decide(&None, at_the_limit, &ctx()).is_ok());
}

#[test]
fn placing_another_order_under_the_same_id_is_refused() {
    let mut other = place();
    other.external_reference = Some(ext("SHOP-2002"));
    given::<Order>(h_placed())
        .when(OrderCommand::PlaceOrder(other))
        .then_error(OrderError::AlreadyPlaced);
}

#[test]
fn a_refund_above_what_a_payment_captured_is_refused() {
    given::<Order>(h_paid())
        .when(record_refund(p1(), eur(5_001)))
        .then_error(OrderError::RefundExceedsPayment);
}

#[test]
fn a_payment_request_must_be_positive() {
    given::<Order>(h_placed())
        .when(OrderCommand::RecordPaymentRequested {
            payment_id: p1(),
            amount: eur(0),
        })
        .then_error(OrderError::NonPositiveAmount);
    given::<Order>(h_placed())
        .when(record_payment(p1(), eur(-5)))
        .then_error(OrderError::NonPositiveAmount);
}
