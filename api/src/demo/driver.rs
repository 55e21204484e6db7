//! The demo's shop: orders placed by its storefront, packed and labelled by its warehouse,
//! captured by its billing, all through the service's REST API with tokens of their own (so
//! every event names who did it), and paid, carried, invoiced and reported on by the simulated
//! partners through their signed webhooks. A burst of orders first, each kind of story at
//! least once, then a new order every few seconds; each order follows its story at a few
//! seconds a step, so that at any moment some are at every stage.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use rand::{rngs::StdRng, seq::SliceRandom as _, Rng as _, SeedableRng as _};
use serde_json::{json, Value};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{
    data::{Customer, CUSTOMERS, PRODUCTS, UNDELIVERABLE},
    easypost::Scan,
    partners::Partners,
    stripe::{Paid, Payment},
};

/// Orders placed at once when the demo starts.
const BURST: u32 = 20;

/// How long a story waits for the service (a payment authorized, a label bought) before it
/// gives up on its order.
const PATIENCE: Duration = Duration::from_secs(90);

/// The API tokens of the shop's systems.
#[derive(Debug)]
pub struct Tokens {
    /// Places orders, asks for payments, cancels for customers (operator).
    pub storefront: String,
    /// Allocates, labels and dispatches (operator).
    pub warehouse: String,
    /// Captures authorized payments (finance).
    pub billing: String,
}

/// What an order goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Story {
    /// Authorized, labelled, captured, invoiced, dispatched, delivered.
    Delivered,
    /// Charged at once, labelled, invoiced, dispatched, delivered.
    ChargedAndDelivered,
    /// As `Delivered`, with a failed delivery attempt first.
    DeliveredSecondTime,
    /// Charged, then cancelled by the customer: refunded at Stripe.
    CancelledRefunded,
    /// Authorized, then cancelled for want of stock: voided at Stripe.
    CancelledVoided,
    /// The card declined; the order cancelled.
    Declined,
    /// Charged, but the carrier cannot verify the address: an attention item.
    LabelRefused,
}

/// The first stories, one of each, so that a new demo shows every state at once.
const FIRST: [Story; 7] = [
    Story::Delivered,
    Story::ChargedAndDelivered,
    Story::CancelledRefunded,
    Story::LabelRefused,
    Story::Declined,
    Story::CancelledVoided,
    Story::DeliveredSecondTime,
];

impl Story {
    fn random(rng: &mut StdRng) -> Self {
        const WEIGHTED: [(Story, u32); 7] = [
            (Story::Delivered, 25),
            (Story::ChargedAndDelivered, 25),
            (Story::DeliveredSecondTime, 8),
            (Story::CancelledRefunded, 12),
            (Story::CancelledVoided, 8),
            (Story::Declined, 8),
            (Story::LabelRefused, 4),
        ];
        WEIGHTED
            .choose_weighted(rng, |(_, weight)| *weight)
            .map_or(Story::Delivered, |(story, _)| *story)
    }
}

/// One order of the demo.
#[derive(Debug)]
struct Order {
    id: String,
    payment_id: String,
    shipment_id: String,
    customer: Customer,
    lines: Vec<Value>,
    total_minor: i64,
}

/// The shop.
#[derive(Debug)]
pub struct Driver {
    api: Api,
    tokens: Tokens,
    partners: Partners,
    /// Customers whose contact the CRM has sent.
    known: tokio::sync::Mutex<HashSet<u32>>,
    next: AtomicU32,
}

impl Driver {
    /// The shop, calling the service at `base` with `tokens`.
    pub fn new(base: String, tokens: Tokens, partners: Partners) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(35))
            .build()
            .context("while making the shop's HTTP client")?;
        Ok(Self {
            api: Api { client, base },
            tokens,
            partners,
            known: tokio::sync::Mutex::default(),
            next: AtomicU32::new(1),
        })
    }

    /// Runs the shop until dropped: the ERP's catalog, a burst of orders, then an order every
    /// few seconds.
    pub async fn run(self: Arc<Self>) {
        if let Err(error) = self.partners.erp_catalog().await {
            tracing::warn!(error = %format!("{error:#}"), "the simulated ERP could not send its catalog");
        }
        let mut rng = StdRng::from_entropy();
        let mut stories = JoinSet::new();
        for n in 0..BURST {
            let story = FIRST
                .get(n as usize)
                .copied()
                .unwrap_or_else(|| Story::random(&mut rng));
            stories.spawn(Arc::clone(&self).tell(story, StdRng::seed_from_u64(rng.gen())));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(3_000..8_000))).await;
            while stories.try_join_next().is_some() {}
            let story = Story::random(&mut rng);
            stories.spawn(Arc::clone(&self).tell(story, StdRng::seed_from_u64(rng.gen())));
        }
    }

    async fn tell(self: Arc<Self>, story: Story, mut rng: StdRng) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.story(n, story, &mut rng).await {
            tracing::warn!(order = n, ?story, error = %format!("{error:#}"), "a demo order stopped short");
        }
    }

    async fn story(&self, n: u32, story: Story, rng: &mut StdRng) -> anyhow::Result<()> {
        let customer = if story == Story::LabelRefused {
            CUSTOMERS[UNDELIVERABLE]
        } else {
            CUSTOMERS[rng.gen_range(0..UNDELIVERABLE)]
        };
        let order = self.place(n, customer, rng).await?;
        pause(rng).await;
        let t = &self.tokens;
        match story {
            Story::Delivered | Story::DeliveredSecondTime => {
                self.pay(&order, Paid::Authorized, "authorized").await?;
                pause(rng).await;
                let tracking = self.label(&order, true).await?;
                pause(rng).await;
                let capture = json!({"amount_minor": order.total_minor});
                let path = format!("/api/v1/payments/{}/capture", order.payment_id);
                self.api.post(&t.billing, &path, Some(&capture)).await?;
                self.wait_payment(&order, "captured").await?;
                self.deliver(&order, tracking, story == Story::DeliveredSecondTime, rng)
                    .await?;
            }
            Story::ChargedAndDelivered => {
                self.pay(&order, Paid::Charged, "captured").await?;
                pause(rng).await;
                let tracking = self.label(&order, true).await?;
                self.deliver(&order, tracking, false, rng).await?;
            }
            Story::CancelledRefunded => {
                self.pay(&order, Paid::Charged, "captured").await?;
                pause(rng).await;
                self.allocate(&order).await?;
                pause(rng).await;
                self.cancel(&order, &t.storefront, "The customer changed their mind")
                    .await?;
            }
            Story::CancelledVoided => {
                self.pay(&order, Paid::Authorized, "authorized").await?;
                pause(rng).await;
                self.cancel(&order, &t.warehouse, "Out of stock at the warehouse")
                    .await?;
            }
            Story::Declined => {
                self.pay(&order, Paid::Declined, "failed").await?;
                pause(rng).await;
                self.cancel(&order, &t.storefront, "The payment was declined")
                    .await?;
            }
            Story::LabelRefused => {
                self.pay(&order, Paid::Charged, "captured").await?;
                pause(rng).await;
                self.label(&order, false).await?;
            }
        }
        Ok(())
    }

    /// The storefront places an order of one to three products (the first time a customer
    /// orders, once the CRM's copy of their contact is there, so that their e-mails go out).
    async fn place(&self, n: u32, customer: Customer, rng: &mut StdRng) -> anyhow::Result<Order> {
        {
            // Held while the CRM tells: a second order of the same customer waits for it.
            let mut known = self.known.lock().await;
            if !known.contains(&customer.number) {
                self.partners.crm_contact(&customer).await?;
                let path = format!("/api/v1/customers/{}", customer.id());
                let storefront = &self.tokens.storefront;
                self.api
                    .wait_for(storefront, &path, "the CRM's contact", |_| true)
                    .await?;
                known.insert(customer.number);
            }
        }
        let count = rng.gen_range(1..=3);
        let mut total_minor = 0;
        let lines: Vec<Value> = PRODUCTS
            .choose_multiple(rng, count)
            .map(|product| {
                let quantity: i64 = if rng.gen_bool(0.7) {
                    1
                } else {
                    rng.gen_range(2..=3)
                };
                total_minor += product.price_minor * quantity;
                json!({
                    "sku": product.sku,
                    "name": product.name,
                    "quantity": quantity,
                    "unit_price_minor": product.price_minor,
                })
            })
            .collect();
        let order = Order {
            id: Uuid::now_v7().to_string(),
            payment_id: Uuid::now_v7().to_string(),
            shipment_id: Uuid::now_v7().to_string(),
            customer,
            lines,
            total_minor,
        };
        let address = json!({
            "recipient": customer.name,
            "line1": customer.line1,
            "postal_code": customer.postal_code,
            "city": customer.city,
            "country": customer.country,
        });
        let body = json!({
            "order_id": order.id,
            "customer_id": customer.id(),
            "currency": customer.currency,
            "lines": order.lines,
            "shipping_address": address,
            "external_reference": format!("WEB-{}", 10_000 + n),
        });
        let storefront = &self.tokens.storefront;
        self.api
            .post(storefront, "/api/v1/orders", Some(&body))
            .await?;
        Ok(order)
    }

    /// The storefront asks for the payment; the customer pays at Stripe, whose event the
    /// service applies until the payment is `status`.
    async fn pay(&self, order: &Order, how: Paid, status: &str) -> anyhow::Result<()> {
        let currency = order.customer.currency;
        let body = json!({
            "payment_id": order.payment_id,
            "order_id": order.id,
            "amount_minor": order.total_minor,
            "currency": currency,
            "provider": "stripe",
        });
        let storefront = &self.tokens.storefront;
        self.api
            .post(storefront, "/api/v1/payments", Some(&body))
            .await?;
        let payment = Payment {
            payment_id: &order.payment_id,
            order_id: &order.id,
            amount_minor: order.total_minor,
            currency,
        };
        self.partners.stripe_pay(payment, how).await?;
        self.wait_payment(order, status).await
    }

    async fn wait_payment(&self, order: &Order, status: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/payments/{}", order.payment_id);
        self.api
            .wait_for(&self.tokens.storefront, &path, status, |payment| {
                payment["status"] == status
            })
            .await
            .map(drop)
    }

    /// The warehouse puts every line in one shipment.
    async fn allocate(&self, order: &Order) -> anyhow::Result<()> {
        let lines: Vec<Value> = order
            .lines
            .iter()
            .map(|line| json!({"sku": line["sku"], "quantity": line["quantity"]}))
            .collect();
        let body = json!({
            "shipment_id": order.shipment_id,
            "carrier": order.customer.carrier(),
            "lines": lines,
        });
        let warehouse = &self.tokens.warehouse;
        let path = format!("/api/v1/orders/{}/shipments", order.id);
        self.api.post(warehouse, &path, Some(&body)).await?;
        let shipment = format!("/api/v1/shipments/{}", order.shipment_id);
        self.api
            .wait_for(warehouse, &shipment, "the shipment", |_| true)
            .await
            .map(drop)
    }

    /// The warehouse allocates the shipment and buys its label at EasyPost; when `wait`, until
    /// the label is bought: its tracking number.
    async fn label(&self, order: &Order, wait: bool) -> anyhow::Result<String> {
        self.allocate(order).await?;
        let warehouse = &self.tokens.warehouse;
        let path = format!("/api/v1/shipments/{}/label", order.shipment_id);
        self.api.post(warehouse, &path, Some(&json!({}))).await?;
        if !wait {
            return Ok(String::new());
        }
        let shipment = format!("/api/v1/shipments/{}", order.shipment_id);
        let labelled = self
            .api
            .wait_for(warehouse, &shipment, "a label", |s| {
                s["tracking_number"].is_string()
            })
            .await?;
        Ok(labelled["tracking_number"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The ERP invoices the paid order, the warehouse dispatches it, and the carrier carries
    /// it (once missing the customer when `missed`).
    async fn deliver(
        &self,
        order: &Order,
        tracking: String,
        missed: bool,
        rng: &mut StdRng,
    ) -> anyhow::Result<()> {
        let currency = order.customer.currency;
        self.partners
            .erp_invoice(&order.id, order.total_minor, currency)
            .await?;
        pause(rng).await;
        let path = format!("/api/v1/shipments/{}/dispatch", order.shipment_id);
        self.api.post(&self.tokens.warehouse, &path, None).await?;
        let mut scans = vec![Scan::PickedUp, Scan::AtHub, Scan::OutForDelivery];
        if missed {
            scans.extend([Scan::Missed, Scan::OutForDelivery]);
        }
        scans.push(Scan::Delivered);
        for scan in scans {
            pause(rng).await;
            self.partners.easypost_scan(&tracking, scan).await?;
        }
        Ok(())
    }

    async fn cancel(&self, order: &Order, token: &str, reason: &str) -> anyhow::Result<()> {
        let path = format!("/api/v1/orders/{}/cancel", order.id);
        self.api
            .post(token, &path, Some(&json!({"reason": reason})))
            .await
            .map(drop)
    }
}

/// A few seconds between two steps of a story.
async fn pause(rng: &mut StdRng) {
    tokio::time::sleep(Duration::from_millis(rng.gen_range(1_000..2_500))).await;
}

/// The service's REST API, as the shop's systems call it.
#[derive(Debug)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// POSTs `body` (JSON; none when `None`) under one `Idempotency-Key`, again while the
    /// service answers 503 or cannot be reached; the answer's JSON.
    async fn post(&self, token: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let key = Uuid::now_v7().to_string();
        let mut last = String::new();
        for attempt in 0..6_u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            let mut request = self
                .client
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Idempotency-Key", &key);
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return Ok(response.json().await.unwrap_or(Value::Null));
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    // Unavailable for a moment, or this key's first try still running.
                    let again = status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                        || text.contains("idempotency_key_in_flight");
                    if !again {
                        anyhow::bail!("POST {path} answered {status}: {text}");
                    }
                    last = format!("answered {status}");
                }
                Err(error) => last = error.to_string(),
            }
        }
        anyhow::bail!("POST {path}: {last}")
    }

    /// GETs `path`: its JSON, or none while it is not there (404) or not yet readable (503).
    async fn get(&self, token: &str, path: &str) -> anyhow::Result<Option<Value>> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        match response.status() {
            status if status.is_success() => Ok(Some(response.json().await?)),
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::SERVICE_UNAVAILABLE => Ok(None),
            status => anyhow::bail!("GET {path} answered {status}"),
        }
    }

    /// GETs `path` until `ready` says so (for [`PATIENCE`] at most).
    async fn wait_for(
        &self,
        token: &str,
        path: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(value) = self.get(token, path).await? {
                if ready(&value) {
                    return Ok(value);
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "waited {} s in vain for {what} at {path}",
                    PATIENCE.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
}
