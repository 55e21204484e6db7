//! The event stream against the real NATS server of this machine: 10 000 events arrive in
//! JetStream exactly once, each log stream's in order, although the destination is stopped in
//! the middle (its task dropped while a publish may be in flight) and started again.
#![allow(clippy::unwrap_used)]

use std::{collections::HashMap, time::Duration};

use adapters::outbound::{stream::EventStream, Destination};
use eventlog::{testing::TestDatabase, Append, EventLog, ExpectedVersion, NewEvent, StreamId};
use serde_json::json;

use crate::support::*;

eventlog::on_both_backends!(ten_thousand_events_arrive_once_in_order_across_a_restart);

const STREAMS: usize = 100;
const PER_STREAM: usize = 100;

async fn ten_thousand_events_arrive_once_in_order_across_a_restart(
    _db: &TestDatabase,
    log: EventLog,
) {
    // 100 streams of 100 events, appended ten at a time, interleaved.
    for batch in 0..PER_STREAM / 10 {
        for stream in 0..STREAMS {
            let events = (0..10)
                .map(|i| NewEvent::new("Counted", 1, json!({"n": batch * 10 + i})))
                .collect();
            log.append(Append::new(
                StreamId::new("counter", format!("c{stream}")),
                ExpectedVersion::Any,
                events,
            ))
            .await
            .unwrap();
        }
    }
    visible(&log).await;
    let total = STREAMS * PER_STREAM;
    let nats = NatsStream::new().await;
    let limits = quick_limits();
    let options = limits.subscription();

    // First run, stopped in the middle.
    let first = outbound(
        &log,
        EventStream::connect(&nats.config()).await.unwrap(),
        limits.clone(),
    );
    let running = tokio::spawn({
        let (log, options) = (log.clone(), options.clone());
        async move { log.run(&first, &options).await }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while nats.count().await < 3_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.abort();
    let _ = running.await;
    let at_stop = nats.count().await;
    assert!(at_stop < total as u64, "stopped in the middle: {at_stop}");

    // Second run, from its checkpoint: the events after it, and perhaps some sent again.
    let second = outbound(
        &log,
        EventStream::connect(&nats.config()).await.unwrap(),
        limits.clone(),
    );
    run_until(&log, &second, &limits, Duration::from_secs(180), || true).await;
    assert_eq!(
        log.checkpoint("outbound.events").await.unwrap(),
        log.last_position().await.unwrap()
    );

    let messages = nats.messages().await;
    assert_eq!(messages.len(), total, "each event once");
    let events = events(&log).await;
    let ids: std::collections::HashSet<String> =
        events.iter().map(|e| e.event_id.to_string()).collect();
    let sent: std::collections::HashSet<String> =
        messages.iter().map(|(id, _)| id.clone()).collect();
    let strays: Vec<&String> = sent.symmetric_difference(&ids).take(3).collect();
    assert!(
        strays.is_empty(),
        "the Nats-Msg-Id of each is its event's id; {} differ, such as {strays:?}",
        sent.symmetric_difference(&ids).count()
    );
    // Per log stream, in the stream's order.
    let mut last: HashMap<String, i64> = HashMap::new();
    for (id, body) in &messages {
        let stream = body["stream"]["aggregate_id"].as_str().unwrap().to_owned();
        let sequence = body["sequence"].as_i64().unwrap();
        let before = last.insert(stream.clone(), sequence).unwrap_or(0);
        assert_eq!(sequence, before + 1, "{stream} out of order at {id}");
        assert_eq!(body["event_id"].as_str(), Some(id.as_str()));
    }
    assert_eq!(last.len(), STREAMS);
    assert!(EventStream::lane(&events[0]).is_some());
    nats.delete().await;
}
