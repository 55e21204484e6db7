//! The engine under partners that fail, throttle and refuse, with every destination running as
//! `serve` runs it (each its own subscriber task): a partner down opens its circuit (a bounded
//! number of probes) while the others keep flowing, and when it is back every message arrives
//! once, each order's in log order; a rate limit holds as the partner counts; a 429 is waited
//! out; a message refused forever parks, is an attention item, and arrives once when retried.
#![allow(clippy::unwrap_used)]

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use adapters::outbound::{
    config::{CrmConfig, EmailConfig, ErpConfig},
    crm::Crm,
    email::Email,
    erp::Erp,
    status,
    stream::EventStream,
    Destination, Limits,
};
use commands::CommandHandler;
use domain::attention::Attention;
use eventlog::{testing::TestDatabase, EventLog, StepState};
use serde_json::json;

use crate::support::*;

eventlog::on_both_backends!(
    a_partner_down_opens_its_circuit_the_others_flow_and_all_arrives_once_in_order_when_it_is_back,
    a_rate_limit_holds_as_the_partner_counts_and_a_429_is_waited_out,
    a_message_refused_forever_parks_as_an_attention_item_and_arrives_once_when_retried,
);

const ORDERS: u32 = 500;

fn erp_config(partner: &Partner, limits: Limits) -> ErpConfig {
    let mut config: ErpConfig = serde_json::from_value(json!({
        "base_url": partner.uri(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }))
    .unwrap();
    config.limits = limits;
    config
}

fn crm_config(partner: &Partner, limits: Limits) -> CrmConfig {
    let mut config: CrmConfig =
        serde_json::from_value(json!({"base_url": partner.uri(), "token": "t"})).unwrap();
    config.limits = limits;
    config
}

/// Runs `destination` as `serve` does, until the returned handle is dropped.
fn spawn<D: Destination>(log: &EventLog, destination: D, limits: Limits) -> Running {
    let outbound = outbound(log, destination, limits.clone());
    let options = limits.subscription();
    let log = log.clone();
    Running(tokio::spawn(
        async move { log.run(&outbound, &options).await },
    ))
}

struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn eventually(within: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "never came to pass: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_partner_down_opens_its_circuit_the_others_flow_and_all_arrives_once_in_order_when_it_is_back(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    contact(&log, "ana@example.com", None).await;
    let (erp, crm) = (
        Partner::start(Mode::Down).await,
        Partner::start(Mode::Up).await,
    );
    let smtp = SmtpServer::start().await;
    let nats = NatsStream::new().await;
    let erp_limits = Limits {
        circuit_failures: 3,
        circuit_open_ms: 500,
        ..quick_limits()
    };
    let email_config: EmailConfig = serde_json::from_value(json!({
        "smtp_url": smtp.url(), "from": "orders@teapots.example",
    }))
    .unwrap();
    let down_since = Instant::now();
    let _running = [
        spawn(
            &log,
            Erp::connect(&erp_config(&erp, erp_limits.clone()))
                .await
                .unwrap(),
            erp_limits,
        ),
        spawn(
            &log,
            Crm::connect(&crm_config(&crm, quick_limits()))
                .await
                .unwrap(),
            quick_limits(),
        ),
        spawn(
            &log,
            Email::connect(&email_config).await.unwrap(),
            quick_limits(),
        ),
        spawn(
            &log,
            EventStream::connect(&nats.config()).await.unwrap(),
            quick_limits(),
        ),
    ];
    for n in 1..=ORDERS {
        place(&handler, n).await;
        if n.is_multiple_of(5) {
            cancel(&handler, n).await;
        }
    }
    let cancelled = ORDERS / 5;
    let total_events = u64::from(ORDERS + cancelled);

    // The ERP is down; the CRM, e-mail and the event stream get everything meanwhile.
    eventually(
        Duration::from_secs(180),
        "CRM, e-mail and stream flow",
        async || {
            crm.effects().len() == ORDERS as usize
                && smtp.messages().len() == ORDERS as usize
                && nats.count().await == total_events
        },
    )
    .await;
    let statuses = status::destinations(&log, &["erp"], |_| true)
        .await
        .unwrap();
    let circuit = statuses[0].circuit.as_ref().unwrap();
    assert_eq!(circuit.state, "open", "{circuit:?}");
    assert!(erp.effects().is_empty());
    let calls_while_down = erp.calls().len();
    let down_for = down_since.elapsed().as_secs_f64();
    // Three failures open the circuit; then one probe per 500 ms open at most.
    let bound = 3 + (down_for / 0.5).ceil() as usize + 1;
    assert!(
        calls_while_down <= bound,
        "{calls_while_down} calls in {down_for:.1} s while down (bound {bound})"
    );

    erp.set(Mode::Up);
    let erp_messages = (ORDERS + cancelled) as usize;
    eventually(
        Duration::from_secs(180),
        "the ERP gets everything",
        async || erp.effects().len() == erp_messages,
    )
    .await;
    let effects = erp.effects();
    let keys: HashSet<&str> = effects.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys.len(),
        erp_messages,
        "each idempotency key took effect once"
    );
    // Per order, in log order (its placement before its cancellation).
    let events = events(&log).await;
    let event_of: HashMap<String, &eventlog::RecordedEvent> =
        events.iter().map(|e| (e.event_id.to_string(), e)).collect();
    let mut last_per_order: HashMap<String, i64> = HashMap::new();
    for call in &effects {
        let event = event_of[&call.key];
        let order = commands::attention::order_of(event).unwrap().to_string();
        let before = last_per_order
            .insert(order.clone(), event.position)
            .unwrap_or(0);
        assert!(before < event.position, "order {order}: out of log order");
    }
    assert_eq!(last_per_order.len(), ORDERS as usize);
    nats.delete().await;
}

async fn a_rate_limit_holds_as_the_partner_counts_and_a_429_is_waited_out(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let crm = Partner::start(Mode::ThrottleOnce(2)).await;
    let limits = Limits {
        requests_per_second: Some(20),
        ..quick_limits()
    };
    for n in 1..=60 {
        place(&handler, n).await;
    }
    let crm_out = outbound(
        &log,
        Crm::connect(&crm_config(&crm, limits.clone()))
            .await
            .unwrap(),
        limits.clone(),
    );
    run_until(&log, &crm_out, &limits, Duration::from_secs(60), || {
        crm.effects().len() == 60
    })
    .await;
    let calls = crm.calls();
    assert_eq!(calls[0].status, 429);
    assert_eq!(
        calls[1].key, calls[0].key,
        "the throttled message comes again first"
    );
    let waited = calls[1].at - calls[0].at;
    assert!(
        waited >= Duration::from_secs(2),
        "Retry-After: 2 waited out: {waited:?}"
    );
    // Any 21 calls in a row span at least a second: never more than 20 in one.
    for window in calls.windows(21) {
        let span = window[20].at - window[0].at;
        assert!(span >= Duration::from_secs(1), "21 calls within {span:?}");
    }
}

async fn a_message_refused_forever_parks_as_an_attention_item_and_arrives_once_when_retried(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let crm = Partner::start(Mode::Refusing).await;
    place(&handler, 1).await;
    place(&handler, 2).await;
    let limits = quick_limits();
    let crm_out = outbound(
        &log,
        Crm::connect(&crm_config(&crm, limits.clone()))
            .await
            .unwrap(),
        limits.clone(),
    );
    let steps = || async { log.set_aside_steps(Some("outbound.crm")).await.unwrap() };
    run_until(&log, &crm_out, &limits, Duration::from_secs(30), || true).await;
    eventually(Duration::from_secs(30), "both parked", async || {
        log.catch_up(&crm_out, &limits.subscription())
            .await
            .unwrap();
        steps()
            .await
            .iter()
            .filter(|s| s.state == StepState::Parked)
            .count()
            == 2
    })
    .await;
    assert_eq!(crm.calls().len(), 2 * 3, "three attempts each");
    let statuses = status::destinations(&log, &["crm"], |_| true)
        .await
        .unwrap();
    assert_eq!((statuses[0].parked, statuses[0].failing), (2, 0));
    assert_eq!(statuses[0].attempts_last_hour.get("rejected"), Some(&6));

    let placed = events(&log).await.remove(0);
    let item = commands::attention::item_of("outbound.crm", &placed);
    let (raised, _) = handler.load::<Attention>(&item.to_string()).await.unwrap();
    let raised = raised.unwrap();
    assert_eq!(raised.raised.process, "outbound.crm");
    assert!(
        raised.raised.detail.as_str().contains("answered 400"),
        "{:?}",
        raised.raised.detail
    );

    crm.set(Mode::Up);
    commands::attention::retry(
        &handler,
        item,
        &commands::CommandMeta::default(),
        adapters::outbound::lane_of,
    )
    .await
    .unwrap();
    run_until(&log, &crm_out, &limits, Duration::from_secs(30), || {
        crm.effects().len() == 1
    })
    .await;
    // Only the retried one: the other stays parked until someone asks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    log.catch_up(&crm_out, &limits.subscription())
        .await
        .unwrap();
    assert_eq!(crm.effects().len(), 1);
    assert_eq!(crm.effects()[0].key, placed.event_id.to_string());
    let (resolved, _) = handler.load::<Attention>(&item.to_string()).await.unwrap();
    assert_eq!(
        resolved.unwrap().status,
        domain::attention::AttentionStatus::Resolved
    );
}
