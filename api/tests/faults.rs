//! Storage taken away from the real binary under load (issue 12, rows 2, 3 and 5): PostgreSQL
//! backends terminated again and again, PostgreSQL refusing connections, SQLite on a full
//! filesystem. While it lasts, answers are 503 problems with `Retry-After`, never a 500 and
//! never a hang; afterwards the service recovers without a restart; no acknowledged command
//! or webhook delivery is lost or applied twice. And a restart after a crash releases the
//! claims the crashed process held. Run alone: `cargo test -p api --test faults`.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::Connection;
use support::{order, target, Target, ERP_SECRET};

/// What the load saw.
#[derive(Debug, Default)]
struct Seen {
    /// Idempotency key -> the order id its acknowledged answer named.
    placed: Mutex<BTreeMap<String, String>>,
    /// Webhook message id -> the order it invoices, once acknowledged (2xx).
    delivered: Mutex<BTreeMap<String, String>>,
    unavailable: AtomicUsize,
    /// Any answer that is neither a success nor a 503 problem with Retry-After.
    wrong: Mutex<Vec<String>>,
}

/// Places orders and invoices them through the ERP webhook until `stop`, each with its own
/// Idempotency-Key / message id, retried (same key) until acknowledged.
async fn load(target: Arc<Target>, client_no: usize, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let client = reqwest::Client::builder()
        // Longer than the server's own 30 s request time-out: a hang is seen as one.
        .timeout(Duration::from_secs(40))
        .build()
        .unwrap();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("load-{client_no}-{n}");
        let body = order();
        let id = loop {
            let sent = client
                .post(target.url("/api/v1/orders"))
                .bearer_auth(&target.token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            match judge(sent, &seen).await {
                Some(answer) => break answer["id"].as_str().unwrap().to_owned(),
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        seen.placed.lock().unwrap().insert(key.clone(), id.clone());
        let message = format!("msg-{key}");
        let invoice = serde_json::to_vec(&json!({"type": "invoice.issued",
            "timestamp": "2026-11-29T10:00:00Z", "data": {"order_id": id,
            "invoice_number": format!("INV-{key}"), "issued_at": "2026-11-29T10:00:00Z",
            "total_minor": 1000, "currency": "EUR"}}))
        .unwrap();
        loop {
            let now = chrono::Utc::now().timestamp();
            let signature = adapters::inbound::signature::StandardWebhooksVerifier::new(ERP_SECRET)
                .unwrap()
                .sign(&message, now, &invoice);
            let sent = client
                .post(target.url("/webhooks/erp"))
                .header("content-type", "application/json")
                .header("webhook-id", &message)
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", signature)
                .body(invoice.clone())
                .send()
                .await;
            if judge(sent, &seen).await.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen.delivered.lock().unwrap().insert(message, id);
    }
}

/// The body of a success; None for a 503 problem with Retry-After or a connection refused
/// (retry); anything else is recorded as wrong.
async fn judge(sent: reqwest::Result<reqwest::Response>, seen: &Seen) -> Option<Value> {
    let response = match sent {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            seen.wrong.lock().unwrap().push(format!("hung: {error}"));
            return None;
        }
        // The server process never goes away here; a refused or reset connection would be
        // a fault of the HTTP layer.
        Err(error) => {
            seen.wrong
                .lock()
                .unwrap()
                .push(format!("connection: {error}"));
            return None;
        }
    };
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        200..=299 => Some(body),
        503 if retry_after && content_type == "application/problem+json" => {
            seen.unavailable.fetch_add(1, Ordering::Relaxed);
            None
        }
        _ => {
            seen.wrong.lock().unwrap().push(format!("{status}: {body}"));
            None
        }
    }
}

/// Runs `clients` load tasks while `fault` runs, then `settle`s: every task finishes its
/// current command (retrying until acknowledged) after the fault is over.
async fn under_load<F: std::future::Future<Output = ()>>(
    target: &Arc<Target>,
    clients: usize,
    fault: F,
) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            tokio::spawn(load(
                Arc::clone(target),
                n,
                Arc::clone(&stop),
                Arc::clone(&seen),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    fault.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("a client never got its command acknowledged after the fault")
            .unwrap();
    }
    seen
}

/// Readiness is 200 again within a minute (recovery without a restart).
async fn ready_again(target: &Target) {
    let started = Instant::now();
    loop {
        let (status, body) = target
            .request(reqwest::Method::GET, "/health/ready", None)
            .await;
        if status == 200 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not ready a minute after the fault: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Per order stream: how many `OrderPlaced` and `OrderInvoiced` events the log holds.
type Counts = BTreeMap<String, (i64, i64)>;

async fn counts_in_log(rows: Vec<(String, String, i64)>) -> Counts {
    let mut counts = Counts::new();
    for (stream, event_type, count) in rows {
        let entry = counts.entry(stream).or_default();
        match event_type.as_str() {
            "OrderPlaced" => entry.0 += count,
            "OrderInvoiced" => entry.1 += count,
            _ => {}
        }
    }
    counts
}

const COUNT_SQL: &str = "SELECT aggregate_id, event_type, count(*) FROM events \
     WHERE aggregate_type = 'order' AND event_type IN ('OrderPlaced', 'OrderInvoiced') \
     GROUP BY aggregate_id, event_type";

/// Every acknowledged order is in the log once, with one invoice per acknowledged delivery,
/// and nothing else is: waits (bounded) for the webhook worker to finish.
async fn nothing_lost_or_doubled(target: &Target, seen: &Seen, read: impl AsyncFn() -> Counts) {
    let placed = seen.placed.lock().unwrap().clone();
    let delivered = seen.delivered.lock().unwrap().clone();
    assert!(!placed.is_empty());
    let expected: Counts = placed
        .values()
        .map(|id| {
            let invoiced = delivered.values().filter(|o| *o == id).count();
            (id.clone(), (1, i64::try_from(invoiced).unwrap()))
        })
        .collect();
    let started = Instant::now();
    loop {
        let counts = read().await;
        if counts == expected {
            return;
        }
        let doubled = counts.iter().find(|(_, (p, i))| *p > 1 || *i > 1);
        assert!(doubled.is_none(), "applied twice: {doubled:?}");
        if started.elapsed() > Duration::from_secs(90) {
            let differing: Vec<_> = expected
                .iter()
                .filter(|(id, want)| counts.get(*id) != Some(want))
                .map(|(id, want)| (id, want, counts.get(id)))
                .collect();
            let extra: Vec<_> = counts
                .keys()
                .filter(|id| !expected.contains_key(*id))
                .collect();
            let mut deliveries = Vec::new();
            for (id, _, _) in differing.iter().take(3) {
                for (message, order) in &delivered {
                    if order == *id {
                        let path = format!("/api/v1/admin/webhooks/deliveries/erp/{message}");
                        deliveries.push(target.request(reqwest::Method::GET, &path, None).await);
                    }
                }
            }
            panic!(
                "the log does not hold what was acknowledged: differing {differing:?}, extra \
                 {extra:?}, deliveries {deliveries:#?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_backends_terminated_for_ten_seconds_under_load_give_503s_and_lose_or_double_nothing(
) {
    let target = Arc::new(target(true, &[]).await);
    let url = target.db.as_ref().unwrap().url.clone();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&eventlog::testing::admin_url())
        .await
        .unwrap();
    let terminated = Arc::new(AtomicUsize::new(0));
    let seen = under_load(&target, 6, {
        let terminated = Arc::clone(&terminated);
        async move {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                let killed: Vec<bool> = sqlx::query_scalar(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&database)
                .fetch_all(&mut admin)
                .await
                .unwrap();
                terminated.fetch_add(killed.len(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    })
    .await;
    let wrong = seen.wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        terminated.load(Ordering::Relaxed) > 40,
        "the fault barely happened"
    );
    eprintln!(
        "{} backends terminated; {} commands acknowledged, {} answers 503",
        terminated.load(Ordering::Relaxed),
        seen.placed.lock().unwrap().len(),
        seen.unavailable.load(Ordering::Relaxed)
    );
    ready_again(&target).await;
    nothing_lost_or_doubled(&target, &seen, async || {
        let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
        counts_in_log(sqlx::query_as(COUNT_SQL).fetch_all(&mut db).await.unwrap()).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_refusing_connections_gives_503_with_retry_after_and_the_service_recovers() {
    let target = target(true, &[]).await;
    let url = target.db.as_ref().unwrap().url.clone();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sqlx::PgConnection::connect(&eventlog::testing::admin_url())
        .await
        .unwrap();
    // No new connection may be made to the database (superusers included), and the open ones
    // are cut.
    for statement in [
        format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ),
    ] {
        sqlx::query(&statement).execute(&mut admin).await.unwrap();
    }
    for path in ["/api/v1/orders", "/api/v1/payments", "/api/v1/audit/events"] {
        let started = Instant::now();
        let response = reqwest::Client::new()
            .get(target.url(path))
            .bearer_auth(&target.token)
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .unwrap();
        let errors: Vec<String> = target
            .served
            .log_lines()
            .into_iter()
            .filter(|line| line.contains("\"ERROR\""))
            .collect();
        assert_eq!(response.status(), 503, "{path}: {errors:#?}");
        assert_eq!(response.headers()["retry-after"], "1");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "storage_unavailable", "{path}: {problem}");
        assert!(started.elapsed() < Duration::from_secs(30), "{path} hung");
    }
    let (status, problem) = target
        .request(reqwest::Method::POST, "/api/v1/orders", Some(order()))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("storage_unavailable"))
    );
    let (status, _) = target
        .request(reqwest::Method::GET, "/health/ready", None)
        .await;
    assert_eq!(status, 503);

    sqlx::query(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    ready_again(&target).await;
    let (status, _) = target
        .request(reqwest::Method::POST, "/api/v1/orders", Some(order()))
        .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_on_a_full_filesystem_under_load_gives_503s_and_recovers_once_space_is_freed() {
    let disk = eventlog::testing::SmallFilesystem::mount(48);
    let url = format!("sqlite:{}", disk.path.join("backoffice.db").display());
    let target = Arc::new(target(false, &[("BACKOFFICE_DATABASE_URL", &url)]).await);
    let unready_seen = Arc::new(AtomicBool::new(false));
    let seen = under_load(&target, 6, {
        let (target, unready_seen) = (Arc::clone(&target), Arc::clone(&unready_seen));
        let disk = &disk;
        async move {
            disk.fill();
            // Full for 6 s, and on a busy machine until readiness has said so (20 s at most).
            let (least, most) = (
                Instant::now() + Duration::from_secs(6),
                Instant::now() + Duration::from_secs(20),
            );
            while Instant::now() < least
                || (Instant::now() < most && !unready_seen.load(Ordering::Relaxed))
            {
                let (status, body) = target
                    .request(reqwest::Method::GET, "/health/ready", None)
                    .await;
                if status == 503 && body["checks"]["writes"] == "failing" {
                    unready_seen.store(true, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            disk.free();
        }
    })
    .await;
    let wrong = seen.wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        seen.unavailable.load(Ordering::Relaxed) > 0,
        "no write failed on the full filesystem"
    );
    assert!(
        unready_seen.load(Ordering::Relaxed),
        "readiness never said writes fail"
    );
    eprintln!(
        "{} commands acknowledged, {} answers 503",
        seen.placed.lock().unwrap().len(),
        seen.unavailable.load(Ordering::Relaxed)
    );
    ready_again(&target).await;
    nothing_lost_or_doubled(&target, &seen, async || {
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        counts_in_log(sqlx::query_as(COUNT_SQL).fetch_all(&mut db).await.unwrap()).await
    })
    .await;
}

/// Kills the server as a crash would (SIGKILL), leaves an idempotency key in flight and a
/// delivery claimed under its name (and, on PostgreSQL, a claim of another process), starts it
/// again under the same name: its own claims are released at once, the other's are not.
async fn a_restart_after_a_crash_releases_the_claims_it_held(postgres: bool) {
    let process = [("BACKOFFICE_PROCESS_NAME", "web-1")];
    let mut target = target(postgres, &process).await;
    let (status, placed) = target
        .request(reqwest::Method::POST, "/api/v1/orders", Some(order()))
        .await;
    assert_eq!(status, 201);
    let id = placed["id"].as_str().unwrap().to_owned();
    let invoice = json!({"type": "invoice.issued", "timestamp": "2026-11-29T10:00:00Z",
        "data": {"order_id": id, "invoice_number": "INV-1", "issued_at": "2026-11-29T10:00:00Z",
        "total_minor": 1000, "currency": "EUR"}});
    assert_eq!(target.erp_delivery("msg-crash", &invoice).await, 202);
    target.served.child.kill().unwrap();
    target.served.child.wait().unwrap();

    // What the crashed process held: a key in flight, a delivery in its lease.
    let in_two_minutes = chrono::Utc::now() + chrono::Duration::minutes(2);
    let statements = [
        "INSERT INTO idempotent_requests (actor, idempotency_key, method, path, request_sha256, \
         created_at_ms, claimed_by) SELECT user_id, 'crashed-key', 'POST', '/api/v1/orders', \
         'x', $1, 'web-1' FROM api_users WHERE name = 'admin'"
            .to_owned(),
        "UPDATE webhook_inbox SET status = 'pending', claim_token = 'web-1/0190', \
         next_attempt_at = $2, processed_at = NULL WHERE event_id = 'msg-crash'"
            .to_owned(),
    ];
    let now_ms = chrono::Utc::now().timestamp_millis();
    let other_body = serde_json::to_vec(&order()).unwrap();
    match &target.db {
        Some(db) => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for statement in &statements {
                sqlx::query(statement)
                    .bind(now_ms)
                    .bind(in_two_minutes)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            // Another process's key stays in flight, for the same request as the one below.
            sqlx::query(
                "INSERT INTO idempotent_requests (actor, idempotency_key, method, path, \
                 request_sha256, created_at_ms, claimed_by) SELECT user_id, 'other-key', 'POST', \
                 '/api/v1/orders', $2, $1, 'web-2' FROM api_users WHERE name = 'admin'",
            )
            .bind(now_ms)
            .bind(fingerprint(&other_body))
            .execute(&mut conn)
            .await
            .unwrap();
        }
        None => {
            let url = format!(
                "sqlite:{}",
                target.folder.0.join("data/backoffice.db").display()
            );
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            for statement in &statements {
                sqlx::query(statement)
                    .bind(now_ms)
                    .bind(eventlog::sqlite_time(in_two_minutes))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    let mut env = process.to_vec();
    if let Some(db) = &target.db {
        env.push(("DATABASE_URL", db.url.as_str()));
    }
    env.push(("BACKOFFICE_WEBHOOKS__ERP", ERP_SECRET));
    target.served = support::serve(&target.folder.0, &env);
    let started = Instant::now();

    // The key's retry runs (not a 409 for 35 s).
    let response = reqwest::Client::new()
        .post(target.url("/api/v1/orders"))
        .bearer_auth(&target.token)
        .header("Idempotency-Key", "crashed-key")
        .json(&order())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    if postgres {
        let response = reqwest::Client::new()
            .post(target.url("/api/v1/orders"))
            .bearer_auth(&target.token)
            .header("Idempotency-Key", "other-key")
            .header("content-type", "application/json")
            .body(other_body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            409,
            "another process's key is not ours to free"
        );
    }
    // The delivery is processed again well before its lease (2 min) would end, and once.
    loop {
        let (_, delivery) = target
            .request(
                reqwest::Method::GET,
                "/api/v1/admin/webhooks/deliveries/erp/msg-crash",
                None,
            )
            .await;
        if delivery["status"] == "done" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the delivery still waits for its lease: {delivery}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, history) = target
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/audit/streams/order/{id}"),
            None,
        )
        .await;
    let invoiced = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "OrderInvoiced")
        .count();
    assert_eq!(invoiced, 1);
}

/// The fingerprint the API keeps of a POST to /api/v1/orders with `body`.
fn fingerprint(body: &[u8]) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"POST /api/v1/orders\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

#[tokio::test]
async fn on_postgresql_a_restart_after_a_crash_releases_the_claims_it_held_and_only_those() {
    a_restart_after_a_crash_releases_the_claims_it_held(true).await;
}

#[tokio::test]
async fn on_sqlite_a_restart_after_a_crash_releases_the_claims_it_held() {
    a_restart_after_a_crash_releases_the_claims_it_held(false).await;
}
