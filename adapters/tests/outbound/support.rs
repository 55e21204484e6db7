//! What the outbound tests share: orders, payments and shipments made through the command
//! handler on a test database, the CRM's contact copy, and running a destination over the log
//! until something holds.
#![allow(dead_code)]

use std::time::Duration;

use adapters::outbound::{Destination, Limits, Outbound};
use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    payment::{Payment, PaymentCommand},
    shipment::{CarrierStatus, Shipment, ShipmentCommand, ShipmentLine, TrackingUpdate},
    Address, Code, CountryCode, Currency, ExternalRef, Money, NonEmptyText, Quantity, Sku,
};
use eventlog::{EventLog, RecordedEvent};

/// The customer of every order here.
pub const CUSTOMER: &str = "0190e8a0-0000-7000-8000-0000000000c1";

/// The id of order `n`.
pub fn order_id(n: u32) -> String {
    format!("0190e8a0-0000-7000-8000-{n:012}")
}

/// The id of payment `n`.
pub fn payment_id(n: u32) -> String {
    format!("0190e8a0-0000-7000-8001-{n:012}")
}

/// The id of shipment `n`.
pub fn shipment_id(n: u32) -> String {
    format!("0190e8a0-0000-7000-8002-{n:012}")
}

fn meta(key: &str) -> CommandMeta {
    CommandMeta {
        idempotency_key: Some(key.to_owned()),
        ..CommandMeta::default()
    }
}

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

/// Order `n`: 2 × Mug at 12.50 and 1 × Teapot at 34.99 (59.99 EUR), reference `WEB-<n>`.
pub async fn place(handler: &CommandHandler, n: u32) -> String {
    let id = order_id(n);
    let place = PlaceOrder {
        order_id: id.parse().unwrap(),
        customer_id: CUSTOMER.parse().unwrap(),
        currency: Currency::EUR,
        lines: vec![
            OrderLine {
                sku: Sku::parse("MUG").unwrap(),
                name: text("Mug"),
                quantity: Quantity::parse(2).unwrap(),
                unit_price: eur(1_250),
            },
            OrderLine {
                sku: Sku::parse("TEAPOT").unwrap(),
                name: text("Teapot"),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: eur(3_499),
            },
        ],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: Some(text("10115")),
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: Some(ExternalRef::parse(&format!("WEB-{n}")).unwrap()),
    };
    handler
        .execute::<Order>(
            &id,
            OrderCommand::PlaceOrder(place),
            &meta(&format!("place-{n}")),
        )
        .await
        .unwrap();
    id
}

/// Cancels order `n`.
pub async fn cancel(handler: &CommandHandler, n: u32) {
    let command = OrderCommand::CancelOrder {
        reason: text("customer changed their mind"),
    };
    handler
        .execute::<Order>(&order_id(n), command, &meta(&format!("cancel-{n}")))
        .await
        .unwrap();
}

/// Payment `n` of order `n` at Stripe (intent `pi_<n>`): requested, authorized and captured in
/// full (59.99 EUR), then `last`.
async fn paid_then(handler: &CommandHandler, n: u32, last: PaymentCommand) {
    let id = payment_id(n);
    let commands = [
        PaymentCommand::RequestPayment {
            payment_id: id.parse().unwrap(),
            order_id: order_id(n).parse().unwrap(),
            amount: eur(5_999),
            provider: Code::parse("stripe").unwrap(),
        },
        PaymentCommand::RecordAuthorization {
            provider_reference: ExternalRef::parse(&format!("pi_{n}")).unwrap(),
            amount: eur(5_999),
        },
        PaymentCommand::CapturePayment {
            capture_id: ExternalRef::parse(&format!("ch_{n}")).unwrap(),
            amount: eur(5_999),
            provider_reference: None,
        },
        last,
    ];
    for (i, command) in commands.into_iter().enumerate() {
        handler
            .execute::<Payment>(&id, command, &meta(&format!("pay-{n}-{i}")))
            .await
            .unwrap();
    }
}

/// Payment `n` of order `n` paid, then `refunded` of it refunded (as Stripe's webhook records a
/// refund: `re_<n>`).
pub async fn pay_and_refund(handler: &CommandHandler, n: u32, refunded: i64) {
    let refund = PaymentCommand::RefundPayment {
        refund_id: ExternalRef::parse(&format!("re_{n}")).unwrap(),
        amount: eur(refunded),
        request: None,
    };
    paid_then(handler, n, refund).await;
}

/// Payment `n` of order `n` paid, then `amount` of it asked to be refunded, as `refund-<n>`: a
/// `PaymentRefundRequested` for the Stripe destination.
pub async fn pay_and_ask_refund(handler: &CommandHandler, n: u32, amount: i64) {
    let ask = PaymentCommand::RequestRefund {
        reference: ExternalRef::parse(&format!("refund-{n}")).unwrap(),
        amount: eur(amount),
    };
    paid_then(handler, n, ask).await;
}

/// Payment `n` of order `n` at Stripe (intent `pi_<n>`) requested and authorized, then its
/// void asked: a `PaymentVoidRequested` for the Stripe destination.
pub async fn authorize_and_ask_void(handler: &CommandHandler, n: u32) {
    let id = payment_id(n);
    let commands = [
        PaymentCommand::RequestPayment {
            payment_id: id.parse().unwrap(),
            order_id: order_id(n).parse().unwrap(),
            amount: eur(5_999),
            provider: Code::parse("stripe").unwrap(),
        },
        PaymentCommand::RecordAuthorization {
            provider_reference: ExternalRef::parse(&format!("pi_{n}")).unwrap(),
            amount: eur(5_999),
        },
        PaymentCommand::RequestVoid {
            reason: text("customer changed their mind"),
        },
    ];
    for (i, command) in commands.into_iter().enumerate() {
        handler
            .execute::<Payment>(&id, command, &meta(&format!("void-{n}-{i}")))
            .await
            .unwrap();
    }
}

/// Stripe's refund object (its own fixture, `fixtures3.refund.json`) for `amount` of payment
/// `n`, as Stripe answers a refund asked as `refund-<n>`.
pub fn stripe_refund(n: u32, amount: i64) -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks/stripe/fixtures3.refund.json"
    );
    let mut refund: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    refund["amount"] = serde_json::json!(amount);
    refund["currency"] = serde_json::json!("eur");
    refund["payment_intent"] = serde_json::json!(format!("pi_{n}"));
    refund["metadata"] = serde_json::json!({"refund_id": format!("refund-{n}")});
    refund
}

/// How far shipment `n` of order `n` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShipTo {
    /// Labelled and dispatched.
    Dispatched,
    /// Then out for delivery.
    OutForDelivery,
    /// Then a failed delivery attempt.
    DeliveryFailed,
    /// Then delivered.
    Delivered,
}

/// Shipment `n` of order `n` (all its lines, by DHL, tracking `TRACK-<n>`), as far as `to`.
pub async fn ship(handler: &CommandHandler, n: u32, to: ShipTo) {
    let id = shipment_id(n);
    let lines = vec![
        ShipmentLine {
            sku: Sku::parse("MUG").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
        },
        ShipmentLine {
            sku: Sku::parse("TEAPOT").unwrap(),
            quantity: Quantity::parse(1).unwrap(),
        },
    ];
    let allocate = OrderCommand::AllocateShipment {
        shipment_id: id.parse().unwrap(),
        carrier: Code::parse("dhl").unwrap(),
        lines: lines.clone(),
    };
    handler
        .execute::<Order>(&order_id(n), allocate, &meta(&format!("allocate-{n}")))
        .await
        .unwrap();
    let tracking = |status: CarrierStatus, minute: i64| {
        ShipmentCommand::RecordTrackingUpdate(TrackingUpdate {
            carrier_event_id: ExternalRef::parse(&format!("trk-{n}-{minute}")).unwrap(),
            carrier_status: status,
            occurred_at: chrono::Utc::now() + chrono::Duration::minutes(minute),
            location: None,
            description: None,
        })
    };
    let mut commands = vec![
        ShipmentCommand::CreateShipment {
            shipment_id: id.parse().unwrap(),
            order_id: order_id(n).parse().unwrap(),
            carrier: Code::parse("dhl").unwrap(),
            lines,
        },
        ShipmentCommand::RecordLabel {
            tracking_number: ExternalRef::parse(&format!("TRACK-{n}")).unwrap(),
        },
        ShipmentCommand::DispatchShipment,
    ];
    if to >= ShipTo::OutForDelivery {
        commands.push(tracking(CarrierStatus::OutForDelivery, 1));
    }
    if to >= ShipTo::DeliveryFailed {
        commands.push(ShipmentCommand::RecordDeliveryFailure {
            reason: text("nobody at home"),
        });
    }
    if to >= ShipTo::Delivered {
        commands.push(ShipmentCommand::DeliverShipment);
    }
    for (i, command) in commands.into_iter().enumerate() {
        handler
            .execute::<Shipment>(&id, command, &meta(&format!("ship-{n}-{i}")))
            .await
            .unwrap();
    }
}

/// The CRM's copy of `CUSTOMER`'s contact (named Ana Lima), as its webhooks write it.
pub async fn contact(log: &EventLog, email: &str, phone: Option<&str>) {
    contact_named(log, "Ana Lima", email, phone).await;
}

/// The CRM's copy of `CUSTOMER`'s contact under `name`.
pub async fn contact_named(log: &EventLog, name: &str, email: &str, phone: Option<&str>) {
    let sql = "INSERT INTO crm_customers \
         (customer_id, name, email, phone, updated_at, event_id, synced_at) \
         VALUES ($1, $2, $3, $4, $5, 'evt_test', $5)";
    let now = chrono::Utc::now();
    eventlog::on_writer!(log, |pool, time| sqlx::query(sql)
        .bind(CUSTOMER)
        .bind(name)
        .bind(email)
        .bind(phone)
        .bind(time(now))
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
}

/// Waits until readers of the whole log see everything appended so far.
pub async fn visible(log: &EventLog) {
    let last = log.last_position().await.unwrap();
    assert!(log
        .wait_until_visible(last, Duration::from_secs(30))
        .await
        .unwrap());
}

/// Every event in the log.
pub async fn events(log: &EventLog) -> Vec<RecordedEvent> {
    visible(log).await;
    log.read_all(0, 100_000).await.unwrap()
}

/// Limits for tests: no waiting between attempts beyond a few milliseconds.
pub fn quick_limits() -> Limits {
    Limits {
        timeout_ms: 5_000,
        attempts: 3,
        backoff_base_ms: 5,
        backoff_max_ms: 20,
        circuit_failures: 3,
        circuit_open_ms: 300,
        ..Limits::default()
    }
}

/// `destination` as a subscriber of `log`.
pub fn outbound<D: Destination>(log: &EventLog, destination: D, limits: Limits) -> Outbound<D> {
    Outbound::new(CommandHandler::new(log.clone()), destination, limits)
}

/// Catches `outbound` up again and again (set-aside messages come due, pauses end) until
/// `done` holds; fails after `within`.
pub async fn run_until<D: Destination>(
    log: &EventLog,
    outbound: &Outbound<D>,
    limits: &Limits,
    within: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + within;
    let options = limits.subscription();
    visible(log).await;
    loop {
        log.catch_up(outbound, &options).await.unwrap();
        if done() {
            return;
        }
        if std::time::Instant::now() > deadline {
            let steps = log.set_aside_steps(None).await.unwrap();
            let circuits = eventlog::on_readers!(log, |pool, _time| sqlx::query_as::<
                _,
                (String, String, Option<String>),
            >(
                "SELECT destination, state, last_error FROM outbound_circuits"
            )
            .fetch_all(pool)
            .await
            .unwrap());
            panic!("never came to pass; set aside: {steps:#?}; circuits: {circuits:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A real SMTP server process (aiosmtpd, from PyPI; `.ci/run` installs it) that keeps every
/// message it receives as a file of a maildir; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    maildir: tempfile_dir::TempDir,
    process: std::process::Child,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let port = free_port();
        let maildir = tempfile_dir::TempDir::new("smtp");
        let process = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            // A maildir aiosmtpd creates itself (with its cur/, new/ and tmp/).
            .arg(maildir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install aiosmtpd; .ci/run installs it)");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not listen on {port} (is it installed? pip install aiosmtpd)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            port,
            maildir,
            process,
        }
    }

    /// `smtp://127.0.0.1:<port>` (no TLS: the server is on this host).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory removed when dropped.
pub mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A JetStream stream of its own on the NATS server of this machine (127.0.0.1:4222), under a
/// subject prefix of its own; deleted when the test is done with it.
pub struct NatsStream {
    pub name: String,
    pub prefix: String,
    pub context: async_nats::jetstream::Context,
}

pub const NATS_URL: &str = "nats://127.0.0.1:4222";

impl NatsStream {
    pub async fn new() -> Self {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let client = async_nats::connect(NATS_URL)
            .await
            .expect("NATS with JetStream at 127.0.0.1:4222");
        Self {
            name: format!("TEST_{id}"),
            prefix: format!("test.{id}"),
            context: async_nats::jetstream::new(client),
        }
    }

    /// The `[outbound.events]` section for this stream.
    pub fn config(&self) -> adapters::outbound::config::EventsConfig {
        serde_json::from_value(serde_json::json!({
            "nats_url": NATS_URL, "stream": self.name, "subject_prefix": self.prefix,
        }))
        .unwrap()
    }

    /// How many messages the stream holds (0 before it exists).
    pub async fn count(&self) -> u64 {
        match self.context.get_stream(&self.name).await {
            Ok(mut stream) => stream.info().await.unwrap().state.messages,
            Err(_) => 0,
        }
    }

    /// Every message of the stream in stream order: its `Nats-Msg-Id` and its body.
    pub async fn messages(&self) -> Vec<(String, serde_json::Value)> {
        use futures::StreamExt as _;
        let count = usize::try_from(self.count().await).unwrap();
        let stream = self.context.get_stream(&self.name).await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
                .await
                .expect("the stream's messages")
                .unwrap()
                .unwrap();
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| format!("no Nats-Msg-Id in {:?}", message.headers));
            out.push((id, serde_json::from_slice(&message.payload).unwrap()));
        }
        out
    }

    pub async fn delete(&self) {
        let _ = self.context.delete_stream(&self.name).await;
    }
}

/// How a [`Partner`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 201 for a new idempotency key (an effect), 200 for one seen before.
    Up,
    /// 503 to everything.
    Down,
    /// 400 to everything.
    Refusing,
    /// 429 with `Retry-After: <seconds>` to the next call, then up.
    ThrottleOnce(u64),
}

/// One call a partner received.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: std::time::Instant,
    pub key: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug)]
struct PartnerState {
    mode: Mode,
    calls: Vec<Call>,
    effects: Vec<Call>,
    seen: std::collections::HashSet<String>,
}

/// A partner's HTTP API as a real server (wiremock) that counts calls, distinct idempotency
/// keys and effects, and answers as its [`Mode`] says.
#[derive(Debug, Clone)]
pub struct Partner {
    state: std::sync::Arc<std::sync::Mutex<PartnerState>>,
    pub server: std::sync::Arc<wiremock::MockServer>,
}

impl Partner {
    pub async fn start(mode: Mode) -> Self {
        let state = std::sync::Arc::new(std::sync::Mutex::new(PartnerState {
            mode,
            calls: Vec::new(),
            effects: Vec::new(),
            seen: std::collections::HashSet::new(),
        }));
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self {
            state,
            server: std::sync::Arc::new(server),
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn set(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls that took effect: one per distinct idempotency key, in arrival order.
    pub fn effects(&self) -> Vec<Call> {
        self.state.lock().unwrap().effects.clone()
    }
}

struct Responder(std::sync::Arc<std::sync::Mutex<PartnerState>>);

impl wiremock::Respond for Responder {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let key = request
            .headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (status, retry_after) = match state.mode {
            Mode::Down => (503, None),
            Mode::Refusing => (400, None),
            Mode::ThrottleOnce(seconds) => {
                state.mode = Mode::Up;
                (429, Some(seconds))
            }
            Mode::Up if state.seen.contains(&key) => (200, None),
            Mode::Up => (201, None),
        };
        let call = Call {
            at: std::time::Instant::now(),
            key: key.clone(),
            path: request.url.path().to_owned(),
            status,
        };
        if status == 201 {
            state.seen.insert(key);
            state.effects.push(call.clone());
        }
        state.calls.push(call);
        let template = wiremock::ResponseTemplate::new(status)
            .set_body_json(serde_json::json!({"status": status}));
        match retry_after {
            Some(seconds) => template.insert_header("Retry-After", seconds.to_string().as_str()),
            None => template,
        }
    }
}
