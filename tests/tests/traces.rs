//! One cancel request is one trace: the request (continuing the caller's `traceparent`), its
//! command and append, the cancellation process's step and the refund it decides, and the ERP
//! destination's step and outbound call, which carries the same trace to the partner. Spans
//! are taken from an in-memory exporter behind the service's own tracing setup.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use api::{auth::Role, config::LogFormat};
use eventlog::testing::TestDatabase;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::StatusCode;
use serde_json::json;
use support::App;
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_request_is_one_trace_through_process_refund_and_outbound_call() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    api::telemetry::install(LogFormat::Text, &provider);
    one_trace(TestDatabase::sqlite(), &provider, &exporter).await;
    one_trace(TestDatabase::postgres().await, &provider, &exporter).await;
}

async fn one_trace(
    db: TestDatabase,
    provider: &SdkTracerProvider,
    exporter: &InMemorySpanExporter,
) {
    let erp = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&erp)
        .await;
    let outbound = serde_json::from_value(json!({"erp": {
        "base_url": erp.uri(), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }}))
    .unwrap();
    let app = App::start_sending(db, eventlog::SubscriptionOptions::default(), outbound).await;

    // A paid order: cancelling it refunds the payment.
    let (order, payment) = app.paid_order("ch_traced").await;

    // The caller's trace context comes in with the cancel.
    let trace_id = TraceId::from_bytes(uuid::Uuid::new_v4().into_bytes());
    let caller = SpanId::from_bytes(uuid::Uuid::new_v4().as_u64_pair().0.to_be_bytes());
    let traceparent = format!("00-{trace_id}-{caller}-01");
    let cancelled = app
        .request(
            Role::Operator,
            reqwest::Method::POST,
            &format!("/api/v1/orders/{order}/cancel"),
        )
        .header("traceparent", &traceparent)
        .json(&json!({"reason": "customer asked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::OK);
    app.eventually(&format!("/api/v1/payments/{payment}"), |p| {
        p["status"] == "refunded"
    })
    .await;
    let cancellation_sent = wait_for(|| {
        let erp = &erp;
        async move {
            erp.received_requests()
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|r| String::from_utf8_lossy(&r.body).contains("order.cancelled"))
        }
    })
    .await;

    // The ERP received the same trace.
    let sent = cancellation_sent
        .headers
        .get("traceparent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(sent.starts_with(&format!("00-{trace_id}-")), "{sent}");

    // Every span of the trace, each linked to its parent inside the trace (or the caller). A
    // span is exported when it ends, after its children: wait until the outbound call's step
    // (its parent) has ended too, for at most 20 s; then every span must be linked.
    let linked = |spans: &[SpanData]| {
        let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
        spans
            .iter()
            .all(|s| s.parent_span_id == caller || ids.contains(&s.parent_span_id))
    };
    let finished = || {
        provider.force_flush().unwrap();
        exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.span_context.trace_id() == trace_id)
            .collect::<Vec<SpanData>>()
    };
    let _ = wait_for(|| async {
        let spans = finished();
        (spans.iter().any(|s| s.name == "outbound_attempt") && linked(&spans)).then_some(())
    })
    .await;
    let spans = finished();
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    for span in &spans {
        assert!(
            span.parent_span_id == caller || by_id.contains_key(&span.parent_span_id),
            "{} is not linked into the trace",
            span.name
        );
    }
    let path = |span: &SpanData| -> Vec<String> {
        let mut names = vec![described(span)];
        let mut parent = span.parent_span_id;
        while let Some(up) = by_id.get(&parent) {
            names.push(described(up));
            parent = up.parent_span_id;
        }
        names.reverse();
        names
    };
    let find = |name: &str, attribute: (&str, &str)| {
        spans
            .iter()
            .find(|s| {
                s.name == name && attribute_of(s, attribute.0).as_deref() == Some(attribute.1)
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {name} span with {attribute:?} in {:?}",
                    spans.iter().map(described).collect::<Vec<_>>()
                )
            })
    };
    let refund = find("execute", ("command", "request_refund"));
    let refund_path = path(refund);
    assert_eq!(
        refund_path.first().map(String::as_str),
        Some("http"),
        "{refund_path:?}"
    );
    for hop in [
        "execute cancel_order",
        "step process:order-cancellation",
        "execute request_refund",
    ] {
        assert!(
            refund_path.iter().any(|n| n == hop),
            "{hop} not in {refund_path:?}"
        );
    }
    let refund_append = spans
        .iter()
        .filter(|s| s.name == "append")
        .map(path)
        .any(|p| p.iter().any(|n| n == "execute request_refund"));
    assert!(refund_append, "the refund's append is not in the trace");
    let call = find("outbound_attempt", ("destination", "erp"));
    let call_path = path(call);
    for hop in ["http", "execute cancel_order", "step outbound.erp"] {
        assert!(
            call_path.iter().any(|n| n == hop),
            "{hop} not in {call_path:?}"
        );
    }
}

/// A span's name with what tells spans of one name apart (the command, the subscriber).
fn described(span: &SpanData) -> String {
    ["command", "subscriber"]
        .iter()
        .find_map(|key| attribute_of(span, key))
        .map_or_else(
            || span.name.to_string(),
            |what| format!("{} {what}", span.name),
        )
}

fn attribute_of(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Polls `probe` until it answers something (20 s at most).
async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(probe: impl Fn() -> F) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
