//! The payments, shipments and daily-sales read models on both backends, over lifecycles
//! decided by the domain (support/history.rs): rows, timelines, filters, pages and sums.
#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, Utc};
use eventlog::{testing::TestDatabase, EventLog, StreamId};
use projections::{
    daily_sales::{list_daily_sales, DailySalesFilter},
    payments::{get_payment, list_payments, PaymentFilter},
    shipments::{get_shipment, list_shipments, ShipmentFilter},
};

mod support;

use support::history::{append_lifecycles, id};

eventlog::on_both_backends!(
    a_payment_row_follows_capture_and_refund,
    a_shipment_row_has_its_lines_and_tracking_timeline,
    payment_and_shipment_lists_filter_and_page_without_gaps,
    daily_sales_sum_orders_cancellations_and_refunds_per_day_and_currency,
);

/// Orders 1 to 20: every tenth cancelled and refunded, every third in USD.
async fn twenty_orders(log: EventLog) -> EventLog {
    let log = support::with_tables(log).await;
    append_lifecycles(&log, 1, 21).await;
    support::project_all(&log).await;
    log
}

async fn a_payment_row_follows_capture_and_refund(_db: &TestDatabase, log: EventLog) {
    let log = twenty_orders(log).await;
    let paid = get_payment(&log, &id(2, 1).to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            paid.order_id.as_str(),
            paid.status.as_str(),
            paid.currency.as_str(),
            paid.requested_minor,
            paid.authorized_minor,
            paid.captured_minor,
            paid.refunded_minor,
            paid.provider_reference.as_deref(),
        ),
        (
            id(1, 1).to_string().as_str(),
            "captured",
            "EUR",
            2500,
            2500,
            2500,
            0,
            Some("pi_1")
        )
    );
    let refunded = get_payment(&log, &id(2, 10).to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (refunded.status.as_str(), refunded.refunded_minor),
        ("refunded", 2500)
    );
    let history = log
        .read_stream(&StreamId::new("payment", id(2, 10).to_string()), 1)
        .await
        .unwrap();
    assert_eq!(refunded.last_position, history.last().unwrap().position);
    assert!(get_payment(&log, &id(2, 99).to_string())
        .await
        .unwrap()
        .is_none());
}

async fn a_shipment_row_has_its_lines_and_tracking_timeline(_db: &TestDatabase, log: EventLog) {
    let log = twenty_orders(log).await;
    let shipment = get_shipment(&log, &id(3, 1).to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            shipment.status.as_str(),
            shipment.carrier.as_str(),
            shipment.tracking_number.as_deref(),
            shipment.quantity,
        ),
        ("delivered", "dhl", Some("TRK1"), 3)
    );
    assert!(shipment.dispatched_at.is_some() && shipment.delivered_at.is_some());
    let lines: Vec<_> = shipment
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(lines, [("SKU-A", 2), ("SKU-B", 1)]);
    let timeline: Vec<_> = shipment
        .tracking
        .iter()
        .map(|t| {
            (
                t.seq,
                t.carrier_event_id.as_str(),
                t.carrier_status.as_str(),
                t.location.as_deref(),
            )
        })
        .collect();
    assert_eq!(timeline, [(1, "trk_1_1", "in_transit", Some("Leipzig"))]);
    assert_eq!(
        shipment.latest_tracking_at,
        Some(shipment.tracking[0].occurred_at)
    );
    assert!(
        get_shipment(&log, &id(3, 10).to_string())
            .await
            .unwrap()
            .is_none(),
        "a cancelled order ships nothing"
    );
}

async fn payment_and_shipment_lists_filter_and_page_without_gaps(
    _db: &TestDatabase,
    log: EventLog,
) {
    let log = twenty_orders(log).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = list_payments(&log, &PaymentFilter::default(), cursor.as_deref(), 6)
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|p| p.payment_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<String> = (1..=20).rev().map(|n| id(2, n).to_string()).collect();
    assert_eq!(seen, newest_first, "every payment once, newest first");

    let refunded = PaymentFilter {
        status: Some("refunded".into()),
        ..PaymentFilter::default()
    };
    let page = list_payments(&log, &refunded, None, 50).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|p| p.payment_id.clone()).collect();
    assert_eq!(ids, [id(2, 20).to_string(), id(2, 10).to_string()]);
    let by_reference = PaymentFilter {
        provider_reference: Some("pi_7".into()),
        ..PaymentFilter::default()
    };
    let page = list_payments(&log, &by_reference, None, 50).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].order_id, id(1, 7).to_string());

    let delivered = ShipmentFilter {
        status: Some("delivered".into()),
        ..ShipmentFilter::default()
    };
    let page = list_shipments(&log, &delivered, None, 50).await.unwrap();
    assert_eq!(page.items.len(), 18, "all but the two cancelled orders");
    assert!(page.next_cursor.is_none());
    let by_order = ShipmentFilter {
        order_id: Some(id(1, 4).to_string()),
        ..ShipmentFilter::default()
    };
    let page = list_shipments(&log, &by_order, None, 50).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].tracking_number.as_deref(), Some("TRK4"));
    assert!(
        page.items[0].tracking.is_empty(),
        "lists leave timelines out"
    );
}

async fn daily_sales_sum_orders_cancellations_and_refunds_per_day_and_currency(
    _db: &TestDatabase,
    log: EventLog,
) {
    let log = twenty_orders(log).await;
    // Placed 2026-11-01 08:07 to 10:20; refunds count on the day they were recorded.
    let refund_day = log
        .read_stream(&StreamId::new("order", id(1, 10).to_string()), 1)
        .await
        .unwrap()
        .last()
        .unwrap()
        .recorded_at
        .date_naive();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let since_october = DailySalesFilter {
        from: Some(day("2026-10-01")),
        to: Some(Utc::now().date_naive()),
        currency: None,
    };
    let rows = list_daily_sales(&log, &since_october, None, 200)
        .await
        .unwrap()
        .items;
    let figures: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.day.clone(),
                r.currency.as_str(),
                r.orders_placed,
                r.orders_cancelled,
                r.gross_minor,
                r.refunded_minor,
                r.net_minor,
            )
        })
        .collect();
    let refund_day = refund_day.format("%Y-%m-%d").to_string();
    assert_eq!(
        figures,
        [
            // Orders 10 and 20 are cancelled and refunded; 3, 6, … 18 are in USD.
            ("2026-11-01".to_owned(), "EUR", 14, 2, 35_000, 0, 35_000),
            ("2026-11-01".to_owned(), "USD", 6, 0, 15_000, 0, 15_000),
            (refund_day, "EUR", 0, 0, 0, 5_000, -5_000),
        ]
    );

    // Moved back (a deliberate replay), the projection delivers events it has counted again:
    // the sums stay as they were, and events it has not counted still count.
    let before = rows.clone();
    let name = projections::ReadModel::DailySales.name();
    let head = log.checkpoint(name).await.unwrap();
    log.reset_checkpoint(name, head / 2).await.unwrap();
    support::project(&log, projections::ReadModel::DailySales).await;
    let replayed = list_daily_sales(&log, &since_october, None, 200)
        .await
        .unwrap()
        .items;
    assert_eq!(replayed, before, "a replay counts nothing twice");
}
