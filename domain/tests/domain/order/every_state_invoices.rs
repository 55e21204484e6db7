//! The ERP's facts, attached to the order in every state it can be in: an invoice is recorded
//! whatever the order's status, once per invoice number; the sales-order number, once.

use domain::{
    order::{Order, OrderCommand, OrderError, OrderEvent, OrderInvoiced, OrderSalesOrderRecorded},
    Decider,
};

use super::fixtures::*;
use crate::support::{ctx, eur, ext, in_every_state, minutes, usd};

fn invoice(number: &str, total: i64) -> OrderCommand {
    OrderCommand::RecordInvoice {
        invoice_number: ext(number),
        issued_at: minutes(5),
        total: eur(total),
    }
}

fn invoiced(number: &str, total: i64) -> OrderEvent {
    OrderEvent::OrderInvoiced(OrderInvoiced {
        invoice_number: ext(number),
        issued_at: minutes(5),
        total: eur(total),
    })
}

#[test]
fn an_invoice_is_recorded_in_every_state_but_not_placed() {
    let rows = states()
        .into_iter()
        .map(|(name, history)| {
            let outcome = if history.is_empty() {
                O::Refused(OrderError::NotPlaced)
            } else {
                O::Emits(vec![invoiced("INV-1", 5_000)])
            };
            (name, history, outcome)
        })
        .collect();
    in_every_state(invoice("INV-1", 5_000), rows);
}

#[test]
fn the_same_invoice_number_twice_is_recorded_once() {
    let mut state = Order::fold(&[placed()]);
    let first = Order::decide(&state, invoice("INV-1", 5_000), &ctx()).unwrap();
    for event in &first {
        Order::evolve(&mut state, event);
    }
    assert_eq!(
        Order::decide(&state, invoice("INV-1", 5_000), &ctx()),
        Ok(vec![])
    );
    assert_eq!(
        Order::decide(&state, invoice("INV-2", 0), &ctx()),
        Ok(vec![invoiced("INV-2", 0)])
    );
    assert_eq!(state.as_ref().map(|o| o.invoices.len()), Some(1));
}

#[test]
fn an_invoice_in_another_currency_is_refused() {
    let state = Order::fold(&[placed()]);
    let command = OrderCommand::RecordInvoice {
        invoice_number: ext("INV-USD"),
        issued_at: minutes(5),
        total: usd(5_000),
    };
    assert_eq!(
        Order::decide(&state, command, &ctx()),
        Err(OrderError::CurrencyMismatch)
    );
}

fn sales_order(number: &str) -> OrderCommand {
    OrderCommand::RecordSalesOrder {
        sales_order_number: ext(number),
    }
}

fn sales_order_recorded(number: &str) -> OrderEvent {
    OrderEvent::OrderSalesOrderRecorded(OrderSalesOrderRecorded {
        sales_order_number: ext(number),
        recorded_at: ctx().now(),
    })
}

#[test]
fn a_sales_order_number_is_recorded_in_every_state_but_not_placed() {
    let rows = states()
        .into_iter()
        .map(|(name, history)| {
            let outcome = if history.is_empty() {
                O::Refused(OrderError::NotPlaced)
            } else {
                O::Emits(vec![sales_order_recorded("SO-1")])
            };
            (name, history, outcome)
        })
        .collect();
    in_every_state(sales_order("SO-1"), rows);
}

#[test]
fn the_same_sales_order_number_again_changes_nothing_and_another_is_refused() {
    let mut state = Order::fold(&[placed()]);
    for event in Order::decide(&state, sales_order("SO-1"), &ctx()).unwrap() {
        Order::evolve(&mut state, &event);
    }
    assert_eq!(
        state.as_ref().and_then(|o| o.sales_order_number.as_ref()),
        Some(&ext("SO-1"))
    );
    assert_eq!(
        Order::decide(&state, sales_order("SO-1"), &ctx()),
        Ok(vec![])
    );
    assert_eq!(
        Order::decide(&state, sales_order("SO-2"), &ctx()),
        Err(OrderError::SalesOrderConflict)
    );
}
