//! Metrics in the Prometheus text format (`docs/operations.md` lists every family), served on
//! an address of their own (`metrics_listen`), never on the API port.
//!
//! Two kinds of figure: what happens in this process (requests, commands, appends, batches,
//! webhook receptions, outbound attempts) is counted where it happens through the `metrics`
//! facade; what the database holds (subscriber positions and lag, set-aside steps, the inbox's
//! backlog, circuits, the business figures of the read models) is read when scraped, so that
//! every replica reports the same and a restart loses nothing. Without a recorder installed
//! (`metrics_listen` empty) the facade's calls do nothing.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::header,
    middleware::Next,
    response::Response,
    routing::get,
    Router,
};
use chrono::Utc;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Request and step durations, in seconds: 1 ms to 30 s.
const SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// From an order's placement to its dispatch: a minute to two weeks.
const DISPATCH_SECONDS: [f64; 10] = [
    60.0,
    300.0,
    900.0,
    3_600.0,
    14_400.0,
    43_200.0,
    86_400.0,
    172_800.0,
    345_600.0,
    1_209_600.0,
];
/// Events per append and appends per group commit.
const COUNTS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 512.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs this process's recorder (once; later calls answer the same handle): from then on
/// the facade's calls count.
pub fn install() -> Result<&'static PrometheusHandle, BuildError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("backoffice_order_dispatch_seconds".into()),
            &DISPATCH_SECONDS,
        )?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS)?
        .set_buckets(&COUNTS)?
        .install_recorder()?;
    Ok(HANDLE.get_or_init(|| handle))
}

/// The metrics address's router: `GET /metrics`.
pub fn router(state: AppState, handle: &'static PrometheusHandle) -> Router {
    start_counters_at_zero(&state);
    Router::new()
        .route(
            "/metrics",
            get(move |State(state): State<AppState>| async move {
                sample(&state).await;
                handle.run_upkeep();
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    handle.render(),
                )
            }),
        )
        .with_state(state)
}

/// Shows the counters of every known source and configured destination from the start, at
/// 0: a rate over a series that appears only with its first increment misses that increment.
fn start_counters_at_zero(state: &AppState) {
    for source in adapters::inbound::payload::Source::all() {
        let source = source.as_str();
        for outcome in ["stored", "duplicate", "refused"] {
            counter!("backoffice_webhook_received_total", "source" => source, "outcome" => outcome)
                .increment(0);
        }
        counter!("backoffice_webhook_signature_failures_total", "source" => source).increment(0);
    }
    for destination in adapters::outbound::NAMES {
        if !state.outbound.is_configured(destination) {
            continue;
        }
        for outcome in <adapters::outbound::engine::AttemptOutcome as strum::VariantArray>::VARIANTS
        {
            counter!("backoffice_outbound_attempts_total", "destination" => *destination, "outcome" => outcome.as_str())
                .increment(0);
        }
        counter!("backoffice_outbound_parked_total", "destination" => *destination).increment(0);
    }
}

/// Keeps the route template a request matched on its response, for [`track_requests`] (which
/// runs outside the routing, where no route is known yet).
pub async fn remember_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// Counts every request by route template, method and status class, and times it.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    histogram!("backoffice_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    counter!("backoffice_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// Reads what the database holds into gauges (and counters set to the stored totals). A
/// database that does not answer leaves the last values and sets `backoffice_storage_up` to 0.
async fn sample(state: &AppState) {
    let outcome = async {
        sample_subscribers(state).await?;
        sample_inbox(state).await?;
        sample_circuits(state).await?;
        sample_business(state).await
    }
    .await;
    let up = match outcome {
        Ok(()) => 1.0,
        Err(error) => {
            tracing::warn!(error = %eventlog::error_chain(&error), "metrics: cannot read the database");
            0.0
        }
    };
    gauge!("backoffice_storage_up").set(up);
}

async fn sample_subscribers(state: &AppState) -> Result<(), eventlog::StorageError> {
    let log = &state.log;
    let head = log.head().await?;
    let now = Utc::now();
    for subscriber in log.subscribers().await? {
        let name = subscriber.name;
        // A destination turned off keeps its checkpoint, and would lag for ever.
        let destination = name.strip_prefix("outbound.");
        if destination.is_some_and(|d| !state.outbound.is_configured(d)) {
            continue;
        }
        let lag_seconds = match log.recorded_after(subscriber.position).await? {
            Some(at) if subscriber.position < head => (now - at).num_milliseconds() as f64 / 1e3,
            _ => 0.0,
        };
        let label = |family: &'static str| gauge!(family, "subscriber" => name.clone());
        label("backoffice_subscriber_position").set(subscriber.position as f64);
        label("backoffice_subscriber_lag_events").set((head - subscriber.position).max(0) as f64);
        label("backoffice_subscriber_lag_seconds").set(lag_seconds.max(0.0));
        label("backoffice_subscriber_failed")
            .set(f64::from(u8::from(subscriber.state == "failed")));
        for (step_state, count) in [
            ("parked", subscriber.parked),
            ("waiting", subscriber.waiting),
            ("retrying", subscriber.retrying),
        ] {
            gauge!("backoffice_subscriber_steps", "subscriber" => name.clone(), "state" => step_state)
                .set(count as f64);
        }
    }
    Ok(())
}

async fn sample_inbox(state: &AppState) -> Result<(), eventlog::StorageError> {
    let figures = state.webhooks.inbox().figures().await?;
    let now = Utc::now();
    for source in adapters::inbound::payload::Source::all() {
        let name = source.as_str();
        for status in adapters::inbound::inbox::OPEN_STATUSES {
            let count = figures
                .iter()
                .find(|f| f.source == name && f.status == status.as_str())
                .map_or(0, |f| f.count);
            gauge!("backoffice_webhook_deliveries", "source" => name, "status" => status.as_str())
                .set(count as f64);
        }
        let oldest = figures
            .iter()
            .filter(|f| f.source == name && f.is_backlog())
            .map(|f| f.oldest)
            .min();
        let age = oldest.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1e3);
        gauge!("backoffice_webhook_oldest_pending_seconds", "source" => name).set(age);
    }
    Ok(())
}

async fn sample_circuits(state: &AppState) -> Result<(), eventlog::StorageError> {
    for name in adapters::outbound::NAMES {
        if !state.outbound.is_configured(name) {
            continue;
        }
        let circuit = adapters::outbound::engine::saved_circuit(&state.log, name).await?;
        let open = circuit.is_some_and(|c| c.state != "closed");
        gauge!("backoffice_outbound_circuit_open", "destination" => *name)
            .set(f64::from(u8::from(open)));
    }
    Ok(())
}

async fn sample_business(state: &AppState) -> Result<(), eventlog::StorageError> {
    let figures = projections::figures::BusinessFigures::read(&state.log).await?;
    let total = |value: i64| u64::try_from(value).unwrap_or(0);
    counter!("backoffice_orders_placed_total").absolute(total(figures.orders_placed));
    counter!("backoffice_orders_cancelled_total").absolute(total(figures.orders_cancelled));
    for (currency, minor) in figures.captured_minor {
        counter!("backoffice_payments_captured_minor_total", "currency" => currency)
            .absolute(total(minor));
    }
    for (currency, minor) in figures.refunded_minor {
        counter!("backoffice_payments_refunded_minor_total", "currency" => currency)
            .absolute(total(minor));
    }
    for ((provider, code), count) in figures.payment_failures {
        let code = failure_code(&code);
        counter!("backoffice_payment_failures_total", "provider" => provider, "code" => code)
            .absolute(total(count));
    }
    counter!("backoffice_shipments_dispatched_total").absolute(total(figures.shipments_dispatched));
    counter!("backoffice_shipments_delivered_total").absolute(total(figures.shipments_delivered));
    counter!("backoffice_shipment_delivery_failures_total")
        .absolute(total(figures.delivery_failures));
    for kind in <domain::attention::AttentionKind as strum::VariantArray>::VARIANTS {
        let open = figures
            .attention_open
            .get(kind.as_str())
            .copied()
            .unwrap_or(0);
        gauge!("backoffice_attention_open", "kind" => kind.as_str()).set(open as f64);
    }
    Ok(())
}

/// A provider's failure code as a label: one of the codes card networks and Stripe document,
/// or `other`, so that a made-up code cannot grow the number of series.
fn failure_code(code: &str) -> &'static str {
    const KNOWN: [&str; 16] = [
        "authentication_required",
        "card_declined",
        "card_velocity_exceeded",
        "do_not_honor",
        "expired_card",
        "fraudulent",
        "generic_decline",
        "incorrect_cvc",
        "incorrect_number",
        "insufficient_funds",
        "invalid_account",
        "lost_card",
        "payment_intent_authentication_failure",
        "processing_error",
        "stolen_card",
        "transaction_not_allowed",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == code)
        .unwrap_or("other")
}
