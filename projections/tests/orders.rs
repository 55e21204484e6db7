//! The `orders` read model on both backends: rows, filters, pages, read-your-writes, and
//! exactly-once application when the projection is stopped mid-run.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    Address, CountryCode, Currency, CustomerId, ExternalRef, Money, NonEmptyText, OrderId,
    PaymentId, Quantity, Sku,
};
use eventlog::{
    testing::TestDatabase, EventLog, HandlerError, LogTransaction, Projection, RecordedEvent,
    SubscriptionOptions,
};
use projections::{
    orders::{get_order, list_orders, OrderFilter},
    wait_for, QueryError, ReadModel, ReadModelProjection, WaitError,
};
use tokio::sync::Notify;

mod support;

const ORDERS: ReadModel = ReadModel::Orders;

/// A projection that applies `batches - 1` batches, then applies the next one's rows and hangs
/// inside its transaction, before the runner can commit it.
struct HangsInBatch {
    inner: ReadModelProjection,
    batches_left: AtomicUsize,
    hung: Arc<Notify>,
}

impl HangsInBatch {
    fn new(inner: ReadModelProjection, batches: usize) -> Self {
        Self {
            inner,
            batches_left: AtomicUsize::new(batches),
            hung: Arc::new(Notify::new()),
        }
    }
}

impl Projection for HangsInBatch {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        self.inner.apply(tx, events).await?;
        if self.batches_left.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.hung.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

async fn project(log: &EventLog) {
    support::project(log, ORDERS).await;
}

eventlog::on_both_backends!(
    an_order_row_shows_statuses_totals_and_line_quantities,
    the_list_filters_and_pages_newest_first_without_gaps_or_repeats,
    the_list_finds_an_order_by_its_external_reference_exactly,
    a_read_waits_for_its_write_or_says_it_timed_out,
    stopping_the_projection_mid_run_leaves_the_same_tables_as_an_uninterrupted_run,
);

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

fn id(kind: u128, n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | (kind << 16) | n)
}

async fn place(handler: &CommandHandler, n: u128, customer: u128) -> (OrderId, Option<i64>) {
    place_from(handler, n, customer, None).await
}

/// Order `n` of `customer`, sent by another system under `reference`.
async fn place_from(
    handler: &CommandHandler,
    n: u128,
    customer: u128,
    reference: Option<&str>,
) -> (OrderId, Option<i64>) {
    let order = OrderId::from(id(1, n));
    let command = OrderCommand::PlaceOrder(PlaceOrder {
        order_id: order,
        customer_id: CustomerId::from(id(4, customer)),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![
            OrderLine {
                sku: Sku::parse("SKU-A").unwrap(),
                name: text("Mug"),
                quantity: Quantity::parse(2).unwrap(),
                unit_price: eur(1000),
            },
            OrderLine {
                sku: Sku::parse("SKU-B").unwrap(),
                name: text("Tea"),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: eur(500),
            },
        ],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: None,
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: reference.map(|r| ExternalRef::parse(r).unwrap()),
    });
    let executed = handler
        .execute::<Order>(&order.to_string(), command, &CommandMeta::default())
        .await
        .unwrap();
    (order, executed.position)
}

async fn pay(handler: &CommandHandler, order: OrderId, n: u128, amount: i64) -> Option<i64> {
    let payment_id = PaymentId::from(id(2, n));
    let id = order.to_string();
    let requested = OrderCommand::RecordPaymentRequested {
        payment_id,
        amount: eur(2500),
    };
    handler
        .execute::<Order>(&id, requested, &CommandMeta::default())
        .await
        .unwrap();
    let paid = OrderCommand::RecordPayment {
        payment_id,
        captured_total: eur(amount),
    };
    handler
        .execute::<Order>(&id, paid, &CommandMeta::default())
        .await
        .unwrap()
        .position
}

async fn an_order_row_shows_statuses_totals_and_line_quantities(_db: &TestDatabase, log: EventLog) {
    let log = support::with_tables(log).await;
    let handler = CommandHandler::new(log.clone());
    let (order, _) = place(&handler, 1, 1).await;
    pay(&handler, order, 1, 2500).await;
    let allocate = OrderCommand::AllocateShipment {
        shipment_id: id(3, 1).into(),
        carrier: domain::Code::parse("dhl").unwrap(),
        lines: vec![domain::shipment::ShipmentLine {
            sku: Sku::parse("SKU-A").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
        }],
    };
    handler
        .execute::<Order>(&order.to_string(), allocate, &CommandMeta::default())
        .await
        .unwrap();
    project(&log).await;

    let row = get_order(&log, &order.to_string()).await.unwrap().unwrap();
    assert_eq!(
        (
            row.status.as_str(),
            row.payment_status.as_str(),
            row.fulfillment_status.as_str()
        ),
        ("placed", "paid", "unfulfilled")
    );
    assert_eq!(
        (
            row.currency.as_str(),
            row.total_minor,
            row.paid_minor,
            row.refunded_minor
        ),
        ("EUR", 2500, 2500, 0)
    );
    let quantities: Vec<_> = row
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.ordered, l.allocated, l.shipped))
        .collect();
    assert_eq!(quantities, [("SKU-A", 2, 2, 0), ("SKU-B", 1, 0, 0)]);
    assert_eq!(row.last_position, log.head().await.unwrap());
    assert!(get_order(&log, &id(1, 99).to_string())
        .await
        .unwrap()
        .is_none());
}

async fn the_list_filters_and_pages_newest_first_without_gaps_or_repeats(
    _db: &TestDatabase,
    log: EventLog,
) {
    let log = support::with_tables(log).await;
    let handler = CommandHandler::new(log.clone());
    let mut placed = Vec::new();
    for n in 1..=7 {
        let (order, _) = place(&handler, n, n % 2).await;
        placed.push(order.to_string());
    }
    let cancel = OrderCommand::CancelOrder {
        reason: text("duplicate"),
    };
    handler
        .execute::<Order>(&placed[2], cancel, &CommandMeta::default())
        .await
        .unwrap();
    project(&log).await;

    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = list_orders(&log, &OrderFilter::default(), cursor.as_deref(), 3)
            .await
            .unwrap();
        pages.extend(page.items.into_iter().map(|o| o.order_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<String> = placed.iter().rev().cloned().collect();
    assert_eq!(
        pages, newest_first,
        "every order once, newest first, across pages of three"
    );

    let cancelled = OrderFilter {
        status: Some("cancelled".into()),
        ..OrderFilter::default()
    };
    let page = list_orders(&log, &cancelled, None, 50).await.unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|o| o.order_id.clone())
            .collect::<Vec<_>>(),
        [placed[2].clone()]
    );
    let customer = OrderFilter {
        customer_id: Some(id(4, 1).to_string()),
        ..OrderFilter::default()
    };
    assert_eq!(
        list_orders(&log, &customer, None, 50)
            .await
            .unwrap()
            .items
            .len(),
        4,
        "orders 1, 3, 5, 7"
    );
    let future = OrderFilter {
        placed_from: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..OrderFilter::default()
    };
    assert!(list_orders(&log, &future, None, 50)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(matches!(
        list_orders(&log, &OrderFilter::default(), Some("garbage"), 3).await,
        Err(QueryError::InvalidCursor)
    ));
}

async fn the_list_finds_an_order_by_its_external_reference_exactly(
    _db: &TestDatabase,
    log: EventLog,
) {
    let log = support::with_tables(log).await;
    let handler = CommandHandler::new(log.clone());
    let (shop_1, _) = place_from(&handler, 1, 1, Some("SHOP-1")).await;
    place_from(&handler, 2, 1, Some("SHOP-10")).await;
    place_from(&handler, 3, 2, None).await;
    let cancel = OrderCommand::CancelOrder {
        reason: text("duplicate"),
    };
    handler
        .execute::<Order>(&shop_1.to_string(), cancel, &CommandMeta::default())
        .await
        .unwrap();
    project(&log).await;

    let found = |reference: &str, status: Option<&str>| {
        let filter = OrderFilter {
            external_reference: Some(reference.to_owned()),
            status: status.map(str::to_owned),
            ..OrderFilter::default()
        };
        let log = log.clone();
        async move {
            list_orders(&log, &filter, None, 50)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|o| o.order_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found("SHOP-1", None).await,
        [shop_1.to_string()],
        "not SHOP-10"
    );
    assert_eq!(
        found("SHOP-1", Some("cancelled")).await,
        [shop_1.to_string()]
    );
    assert!(found("SHOP-1", Some("placed")).await.is_empty());
    assert!(found("shop-1", None).await.is_empty(), "exactly as sent");
    assert!(found("SHOP", None).await.is_empty(), "not a prefix search");
}

async fn a_read_waits_for_its_write_or_says_it_timed_out(_db: &TestDatabase, log: EventLog) {
    let log = support::with_tables(log).await;
    let handler = CommandHandler::new(log.clone());
    let (order, position) = place(&handler, 1, 1).await;
    let position = position.unwrap();

    // No projection running: the wait ends in a clear timeout, not in stale data.
    match wait_for(&log, ORDERS.name(), position, Duration::from_millis(200)).await {
        Err(WaitError::Timeout { reached, .. }) => assert!(reached < position),
        other => panic!("expected a timeout, got {other:?}"),
    }

    let running = {
        let (log, projection) = (log.clone(), ReadModelProjection::new(log.clone(), ORDERS));
        tokio::spawn(async move {
            log.run_projection(&projection, &SubscriptionOptions::default())
                .await
        })
    };
    let paid = pay(&handler, order, 1, 1000).await.unwrap();
    wait_for(&log, ORDERS.name(), paid, Duration::from_secs(30))
        .await
        .unwrap();
    let row = get_order(&log, &order.to_string()).await.unwrap().unwrap();
    assert_eq!(
        (row.payment_status.as_str(), row.paid_minor),
        ("partially_paid", 1000),
        "the read includes the write"
    );
    assert!(row.last_position >= paid);
    running.abort();
}

async fn stopping_the_projection_mid_run_leaves_the_same_tables_as_an_uninterrupted_run(
    _db: &TestDatabase,
    log: EventLog,
) {
    let log = support::with_tables(log).await;
    let handler = CommandHandler::new(log.clone());
    for n in 1..=40 {
        let (order, _) = place(&handler, n, n % 3).await;
        if n % 2 == 0 {
            pay(&handler, order, n, 2500).await;
        }
    }
    // Where the projection must end: everything appended.
    let head = support::appended(&log).await;
    assert!(log
        .wait_until_visible(head, Duration::from_secs(30))
        .await
        .unwrap());

    // Stopped in the middle of its fourth batch of 7 events, its rows written but not yet
    // committed, then restarted.
    let small = SubscriptionOptions {
        batch_size: 7,
        ..SubscriptionOptions::default()
    };
    let hanging = HangsInBatch::new(ReadModelProjection::new(log.clone(), ORDERS), 4);
    let hung = Arc::clone(&hanging.hung);
    let running = {
        let (log, small) = (log.clone(), small.clone());
        tokio::spawn(async move { log.run_projection(&hanging, &small).await })
    };
    tokio::time::timeout(Duration::from_secs(30), hung.notified())
        .await
        .expect("the projection never reached its fourth batch");
    running.abort();
    let _ = running.await;
    let stopped_at = log.checkpoint(ORDERS.name()).await.unwrap();
    let three_batches = log.read_all(0, 3 * 7).await.unwrap();
    assert_eq!(
        stopped_at,
        three_batches.last().unwrap().position,
        "three batches committed, the fourth not"
    );
    // The aborted run's transaction is rolled back, and its claim released, only when its
    // connection is next used or closed: until then it holds the claim, and its open
    // transaction holds back what readers may see (ADR 0001). Restart until caught up, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match log
            .catch_up_projection(&ReadModelProjection::new(log.clone(), ORDERS), &small)
            .await
        {
            Ok(position) if position == head => break,
            Ok(_)
            | Err(
                eventlog::SubscriptionError::Claimed(_) | eventlog::SubscriptionError::Storage(_),
            ) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the restarted projection never caught up"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other}"),
        }
    }
    let interrupted = projections::digest(&log, ORDERS).await.unwrap();

    // The uninterrupted run: a rebuild, from the whole log into fresh tables in one go.
    let rebuilt = projections::rebuild(&log, &[ORDERS], &SubscriptionOptions::default())
        .await
        .unwrap();
    assert_eq!(rebuilt, head);
    assert_eq!(
        interrupted,
        projections::digest(&log, ORDERS).await.unwrap()
    );
    assert!(interrupted.starts_with("orders:40:"), "{interrupted}");
}
