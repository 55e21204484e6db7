//! Append throughput, in events per second, on PostgreSQL and SQLite; on the same PostgreSQL
//! and in the same run, the same workloads through postgres-es 0.5 and as raw INSERTs.
//!
//! Run: `cargo bench -p eventlog` (PostgreSQL from BACKOFFICE_TEST_POSTGRES_URL or the local
//! server; every database is made for the run and dropped). `BENCH_SCALE=2` doubles the work;
//! `BENCH_ONLY=sqlite` or `BENCH_ONLY=postgres` runs one backend's cases.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cqrs_es::{
    event_sink::EventSink,
    persist::{PersistedEventRepository, SerializedEvent},
    Aggregate, DomainEvent,
};
use eventlog::{
    testing::TestDatabase, Append, ConnectOptions, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use futures::{future::BoxFuture, FutureExt};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;

/// Streams per writer: appends rotate over them, each at its exact expected version.
const STREAMS_PER_WRITER: usize = 50;
const BATCH: usize = 100;

struct Workload {
    single_appends: usize,
    batch_appends: usize,
}

fn main() {
    let scale: usize = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let work = Workload {
        single_appends: 4000 * scale,
        batch_appends: 200 * scale,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(work));
}

/// A contender: a name and a task `(writer, operations)`; events per operation.
struct Case {
    name: &'static str,
    writers: usize,
    operations: usize,
    events_per_operation: usize,
    task: Box<dyn Fn(usize, usize) -> BoxFuture<'static, ()>>,
}

/// Runs every case once per round, interleaved, and gives each case's median events/s: the disk
/// of a shared machine drifts, and running contenders back to back would bias their ratios.
async fn run_rounds(cases: &[Case], rounds: usize) -> Vec<f64> {
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (case, rates) in cases.iter().zip(&mut rates) {
            let rate = measure(case.writers, case.operations, &case.task).await;
            rates.push(rate * case.events_per_operation as f64);
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect()
}

async fn run(work: Workload) {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "append throughput, events/s (higher is better), median of {rounds} interleaved rounds"
    );
    println!(
        "single-event appends: {} per case and round; 100-event appends: {}",
        work.single_appends, work.batch_appends
    );
    println!();

    let (single, batch) = (work.single_appends, work.batch_appends);
    // `BENCH_ONLY=sqlite` (or `postgres`) runs one backend's cases.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only != "sqlite" {
        let db = TestDatabase::postgres().await;
        let writers = std::env::var("BENCH_GROUP_COMMIT_WRITERS")
            .ok()
            .and_then(|s| s.parse().ok());
        let options = ConnectOptions {
            max_connections: 16,
            group_commit_writers: writers.unwrap_or(ConnectOptions::default().group_commit_writers),
            ..ConnectOptions::default()
        };
        let log = db.log_with(&options).await;
        let EventLog::Postgres(pg) = &log else {
            unreachable!()
        };
        let pool = pg.pool().clone();
        prepare_baselines(&pool).await;
        let repo = Arc::new(
            PostgresEventRepository::new(pool.clone()).with_tables("pges_events", "pges_snapshots"),
        );

        let pges = |writers| {
            let repo = Arc::clone(&repo);
            Case {
                name: "",
                writers,
                operations: single,
                events_per_operation: 1,
                task: Box::new(move |w, n| postgres_es_single(Arc::clone(&repo), w, n).boxed()),
            }
        };
        let raw = |writers, batched: bool| {
            let pool = pool.clone();
            Case {
                name: "",
                writers,
                operations: if batched { batch } else { single },
                events_per_operation: if batched { BATCH } else { 1 },
                task: Box::new(move |w, n| {
                    if batched {
                        raw_unnest(pool.clone(), w, n).boxed()
                    } else {
                        raw_single(pool.clone(), w, n).boxed()
                    }
                }),
            }
        };
        let cases = [
            Case {
                name: "ours, 1 writer, 1 event",
                ..ours_on(&log, 1, single, 1, false)
            },
            Case {
                name: "ours, 8 writers, 1 event",
                ..ours_on(&log, 8, single, 1, false)
            },
            Case {
                name: "ours, 1 writer, 100 events",
                ..ours_on(&log, 1, batch, BATCH, true)
            },
            Case {
                name: "postgres-es, 1 writer",
                ..pges(1)
            },
            Case {
                name: "postgres-es, 8 writers",
                ..pges(8)
            },
            Case {
                name: "raw INSERT, 1 writer",
                ..raw(1, false)
            },
            Case {
                name: "raw INSERT, 8 writers",
                ..raw(8, false)
            },
            Case {
                name: "raw UNNEST, 100 rows",
                ..raw(1, true)
            },
        ];
        let rates = run_rounds(&cases, rounds).await;
        println!(
            "PostgreSQL (group-commit writers: {})  events/s   ours ÷ it",
            options.group_commit_writers
        );
        // Each baseline is compared with our case of the same workload.
        let ours_for = [
            None,
            None,
            None,
            Some(0),
            Some(1),
            Some(0),
            Some(1),
            Some(2),
        ];
        for ((case, rate), ours) in cases.iter().zip(&rates).zip(ours_for) {
            row(case.name, *rate, ours.map(|i| rates[i]));
        }
        drop(cases);
        drop(log);
        drop(db);
    }
    if only == "postgres" {
        return;
    }

    let db = TestDatabase::sqlite();
    let log = db.log().await;
    let cases = [
        Case {
            name: "ours, 1 writer, 1 event",
            ..ours_on(&log, 1, single, 1, false)
        },
        Case {
            name: "ours, 8 writers, 1 event",
            ..ours_on(&log, 8, single, 1, false)
        },
        Case {
            name: "ours, 1 writer, 100 events",
            ..ours_on(&log, 1, batch, BATCH, true)
        },
    ];
    let rates = run_rounds(&cases, rounds).await;
    println!();
    println!("SQLite (WAL, synchronous=FULL)  events/s");
    for (case, rate) in cases.iter().zip(rates) {
        row(case.name, rate, None);
    }
}

fn ours_on(
    log: &EventLog,
    writers: usize,
    operations: usize,
    events_per_operation: usize,
    batched: bool,
) -> Case {
    let log = log.clone();
    Case {
        name: "",
        writers,
        operations,
        events_per_operation,
        task: Box::new(move |w, n| {
            let log = log.clone();
            if batched {
                ours_batch(log, w, n).boxed()
            } else {
                ours_single(log, w, n).boxed()
            }
        }),
    }
}

fn row(name: &str, rate: f64, ours: Option<f64>) {
    match ours {
        Some(ours) => println!("  {name:<28} {rate:>9.0}   {:.2}x", ours / rate),
        None => println!("  {name:<28} {rate:>9.0}"),
    }
}

/// Runs `total` operations split over `writers` concurrent tasks; returns operations per second.
/// An untimed warm-up first, the same for every contender: connections are opened and
/// statements planned before the clock starts.
async fn measure(
    writers: usize,
    total: usize,
    task: &dyn Fn(usize, usize) -> BoxFuture<'static, ()>,
) -> f64 {
    let warm_up: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(task(w, (total / writers / 10).max(5))))
        .collect();
    for task in warm_up {
        task.await.unwrap();
    }
    let per_writer = total / writers;
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| tokio::spawn(task(w, per_writer)))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed: Duration = started.elapsed();
    (per_writer * writers) as f64 / elapsed.as_secs_f64()
}

fn payload(i: usize) -> serde_json::Value {
    json!({ "sku": "SKU-1", "quantity": i % 7 + 1, "unit_price": { "amount": 1999, "currency": "EUR" } })
}

fn stream_name(run: &str, writer: usize, i: usize) -> String {
    format!("{run}-w{writer}-s{}", i % STREAMS_PER_WRITER)
}

/// Unique per call so repeated workloads never collide on a stream.
fn run_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

async fn ours_single(log: EventLog, writer: usize, appends: usize) {
    let run = run_id();
    for i in 0..appends {
        let version = (i / STREAMS_PER_WRITER) as u64;
        let expected = if version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(version)
        };
        let stream = StreamId::new("order", stream_name(&run, writer, i));
        let event = NewEvent::new("OrderLinePicked", 1, payload(i));
        log.append(Append::new(stream, expected, vec![event]))
            .await
            .unwrap();
    }
}

async fn ours_batch(log: EventLog, writer: usize, appends: usize) {
    let run = run_id();
    for i in 0..appends {
        let events = (0..BATCH)
            .map(|n| NewEvent::new("OrderLinePicked", 1, payload(n)))
            .collect();
        let stream = StreamId::new("order", format!("{run}-w{writer}-b{i}"));
        log.append(Append::new(stream, ExpectedVersion::NoStream, events))
            .await
            .unwrap();
    }
}

async fn prepare_baselines(pool: &PgPool) {
    for statement in [
        // postgres-es's own schema, under other names beside ours.
        eventlog::testing::POSTGRES_ES_TABLES[0],
        eventlog::testing::POSTGRES_ES_TABLES[1],
        // Our table's columns, keys and defaults, without the append function.
        "CREATE TABLE raw_events (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY \
         INCLUDING CONSTRAINTS INCLUDING INDEXES)",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct BenchOrder;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderLinePicked(serde_json::Value);

impl DomainEvent for OrderLinePicked {
    fn event_type(&self) -> String {
        "OrderLinePicked".into()
    }
    fn event_version(&self) -> String {
        "1".into()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Aggregate for BenchOrder {
    const TYPE: &'static str = "order";
    type Command = ();
    type Event = OrderLinePicked;
    type Error = Never;
    type Services = ();

    async fn handle(&mut self, _: (), _: &(), _: &EventSink<Self>) -> Result<(), Never> {
        Ok(())
    }

    fn apply(&mut self, _: OrderLinePicked) {}
}

async fn postgres_es_single(repo: Arc<PostgresEventRepository>, writer: usize, appends: usize) {
    let run = run_id();
    for i in 0..appends {
        let event = SerializedEvent::new(
            stream_name(&run, writer, i),
            i / STREAMS_PER_WRITER + 1,
            "order".into(),
            "OrderLinePicked".into(),
            "1".into(),
            payload(i),
            json!({}),
        );
        repo.persist::<BenchOrder>(&[event], None).await.unwrap();
    }
}

async fn raw_single(pool: PgPool, writer: usize, appends: usize) {
    let run = run_id();
    for i in 0..appends {
        sqlx::query(
            "INSERT INTO raw_events (event_id, aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) VALUES ($1, 'order', $2, $3, 'OrderLinePicked', 1, $4, '{}')",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(stream_name(&run, writer, i))
        .bind((i / STREAMS_PER_WRITER + 1) as i64)
        .bind(payload(i))
        .execute(&pool)
        .await
        .unwrap();
    }
}

async fn raw_unnest(pool: PgPool, writer: usize, appends: usize) {
    let run = run_id();
    for i in 0..appends {
        let ids: Vec<uuid::Uuid> = (0..BATCH).map(|_| uuid::Uuid::now_v7()).collect();
        let sequences: Vec<i64> = (1..=BATCH as i64).collect();
        let payloads: Vec<serde_json::Value> = (0..BATCH).map(payload).collect();
        sqlx::query(
            "INSERT INTO raw_events (event_id, aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) \
             SELECT id, 'order', $2, seq, 'OrderLinePicked', 1, p, '{}' \
             FROM unnest($1::uuid[], $3::bigint[], $4::jsonb[]) AS t(id, seq, p)",
        )
        .bind(&ids)
        .bind(format!("{run}-w{writer}-b{i}"))
        .bind(&sequences)
        .bind(&payloads)
        .execute(&pool)
        .await
        .unwrap();
    }
}
