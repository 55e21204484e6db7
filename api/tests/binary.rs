//! The real `backoffice` binary, started as a user starts it.
#![allow(clippy::unwrap_used)]

mod support;

use std::{process::Command, time::Duration};

use eventlog::testing::TestDatabase;
use support::{cli, get, serve, Folder, BINARY};

#[tokio::test]
async fn serve_with_no_configuration_creates_a_sqlite_database_under_data_and_is_ready() {
    let folder = Folder::new();
    let served = serve(&folder.0, &[]);

    assert_eq!(
        get(&served.address, "/health/live").await,
        (200, serde_json::json!({ "status": "ok" }))
    );
    let (status, ready) = get(&served.address, "/health/ready").await;
    assert_eq!(
        (status, ready["backend"].as_str()),
        (200, Some("sqlite")),
        "{ready}"
    );

    let database = folder.0.join("data/backoffice.db");
    assert!(database.exists());
    let url = format!("sqlite:{}", database.display());
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = 'events'")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert_eq!(tables, 1, "migrations were applied");
}

#[tokio::test]
async fn database_url_switches_the_service_to_postgresql() {
    let db = TestDatabase::postgres().await;
    let folder = Folder::new();
    let served = serve(&folder.0, &[("DATABASE_URL", &db.url)]);
    let (status, ready) = get(&served.address, "/health/ready").await;
    assert_eq!(
        (status, ready["backend"].as_str()),
        (200, Some("postgres")),
        "{ready}"
    );
    assert!(
        !folder.0.join("data/backoffice.db").exists(),
        "no SQLite file is made when PostgreSQL is configured"
    );
    drop(served);
}

#[tokio::test]
async fn the_service_reaches_postgresql_over_tls_when_the_url_requires_it() {
    let db = TestDatabase::postgres().await;
    let folder = Folder::new();
    let url = format!("{}?sslmode=require", db.url);
    let served = serve(&folder.0, &[("DATABASE_URL", &url)]);
    let (status, ready) = get(&served.address, "/health/ready").await;
    assert_eq!(
        (status, ready["backend"].as_str()),
        (200, Some("postgres")),
        "{ready}"
    );
    drop(served);
}

#[test]
fn an_invalid_setting_stops_start_up_with_a_message_naming_the_key() {
    let folder = Folder::new();
    let output = Command::new(BINARY)
        .arg("serve")
        .current_dir(&folder.0)
        .env_clear()
        .env("BACKOFFICE_MAX_CONNECTIONS", "many")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_connections"), "{stderr}");
    assert!(
        !folder.0.join("data").exists(),
        "nothing is created before the configuration is valid"
    );
}

#[test]
fn version_and_help_describe_the_binary_and_its_commands() {
    let version = Command::new(BINARY).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("backoffice {}", env!("CARGO_PKG_VERSION"))
    );
    let help = Command::new(BINARY).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for word in ["serve", "migrate", "--config"] {
        assert!(help.contains(word), "{help}");
    }
}

#[test]
fn an_unreachable_database_fails_start_up_quickly_with_a_clear_message() {
    let folder = Folder::new();
    let started = std::time::Instant::now();
    let output = Command::new(BINARY)
        .arg("migrate")
        .current_dir(&folder.0)
        .env_clear()
        .env("DATABASE_URL", "postgres://nobody:pw@127.0.0.1:1/none")
        .env("BACKOFFICE_DATABASE_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("while connecting to postgres://nobody:***@127.0.0.1:1/none"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(":pw@"),
        "the password never prints: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "it did not hang"
    );
}

#[test]
fn a_password_in_the_database_url_never_prints_wherever_it_is() {
    let folder = Folder::new();
    for url in [
        "postgres://nobody@127.0.0.1:1/none?password=hunter2",
        "postgres://nobody@127.0.0.1:1/none?sslmode=disable&sslpassword=hunter2",
        "postgres://nobody:hunter2@127.0.0.1:99999/none?password=hunter2",
        "mysql://nobody:hunter2@127.0.0.1/none?password=hunter2",
    ] {
        for command in ["migrate", "serve"] {
            let output = Command::new(BINARY)
                .arg(command)
                .current_dir(&folder.0)
                .env_clear()
                .env("DATABASE_URL", url)
                .env("BACKOFFICE_DATABASE_TIMEOUT_SECS", "1")
                .output()
                .unwrap();
            assert!(!output.status.success(), "{url}");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(printed.contains("error:"), "{printed}");
            assert!(!printed.contains("hunter2"), "{url}: {printed}");
        }
    }
}

#[test]
fn projections_status_lists_every_projection_and_process_manager() {
    let folder = Folder::new();
    let run = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .current_dir(&folder.0)
            .env_clear()
            .output()
            .unwrap()
    };
    assert!(run(&["migrate"]).status.success());
    let output = run(&["projections", "status"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("name") && lines[0].contains("lag"),
        "{stdout}"
    );
    for name in [
        "orders",
        "process:order-payments",
        "process:order-completion",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(name) && l.contains("idle")),
            "{stdout}"
        );
    }
}

/// A failed projection is reported, but the process can still serve: it stays ready (another
/// replica would see the same log), and says what is degraded.
#[tokio::test]
async fn readiness_reports_a_failed_projection_as_degraded_and_stays_ready() {
    let folder = Folder::new();
    let served = serve(&folder.0, &[]);
    assert_eq!(get(&served.address, "/health/ready").await.0, 200);

    let url = format!("sqlite:{}", folder.0.join("data/backoffice.db").display());
    let mut connection = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO subscription_checkpoints (name, position, state, last_error, error_position, updated_at) \
         VALUES ('orders-test', 0, 'failed', 'boom', 1, '2026-11-29T00:00:00Z')",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let (status, body) = get(&served.address, "/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["workflows"], "degraded", "{body}");
    assert_eq!(body["degraded"][0]["name"], "orders-test", "{body}");
    assert_eq!(body["degraded"][0]["last_error"], "boom", "{body}");
}

#[test]
fn users_are_created_given_roles_new_tokens_and_deactivated_from_the_command_line() {
    let folder = Folder::new();
    let (ok, token, _) = cli(
        &folder.0,
        &["users", "create", "--name", "ana", "--role", "viewer"],
    );
    assert!(ok && token.starts_with("bo_"), "{token}");
    let (ok, out, _) = cli(
        &folder.0,
        &["users", "set-role", "--name", "ana", "--role", "finance"],
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "ana is finance");
    let (ok, _, err) = cli(
        &folder.0,
        &["users", "set-role", "--name", "ana", "--role", "boss"],
    );
    assert!(!ok && err.contains("no role \"boss\""), "{err}");
    let (ok, second, _) = cli(&folder.0, &["tokens", "create", "--user", "ana"]);
    assert!(
        ok && second.starts_with("bo_") && second != token,
        "{second}"
    );
    let (ok, listed, _) = cli(&folder.0, &["tokens", "list"]);
    assert!(ok && listed.matches("finance").count() == 2, "{listed}");

    let (ok, out, _) = cli(&folder.0, &["users", "deactivate", "--name", "ana"]);
    assert!(ok, "{out}");
    let (ok, _, err) = cli(&folder.0, &["users", "deactivate", "--name", "ana"]);
    assert!(!ok && err.contains("no active user \"ana\""), "{err}");
    let (ok, _, err) = cli(&folder.0, &["tokens", "create", "--user", "ana"]);
    assert!(!ok && err.contains("no active user \"ana\""), "{err}");
}

#[tokio::test]
async fn metrics_are_served_apart_from_the_api_and_spans_reach_the_otlp_endpoint() {
    use wiremock::{
        matchers::{method, path},
        Mock, MockServer, ResponseTemplate,
    };
    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let folder = Folder::new();
    let served = serve(&folder.0, &[("BACKOFFICE_OTLP_ENDPOINT", &collector.uri())]);
    let metrics = served
        .log_lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|entry| {
            entry["fields"]["metrics_address"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap();
    assert_ne!(metrics, served.address);

    // A request that comes with a sampled trace: its spans are exported.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client = reqwest::Client::new();
    let ready = client
        .get(format!("http://{}/health/ready", served.address))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let scraped = client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("backoffice_storage_up 1"), "{text}");
    assert!(
        text.contains(
            r#"backoffice_http_requests_total{route="/health/ready",method="GET",status="2xx"} 1"#
        ),
        "{text}"
    );
    let (status, _) = get(&served.address, "/metrics").await;
    assert_eq!(status, 404, "the API's address serves no metrics");

    // The batch exporter sends within its 5 s delay; the trace id is in the protobuf as bytes.
    let wanted = hex::decode(trace_id).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let requests = collector.received_requests().await.unwrap_or_default();
        if requests.iter().any(|r| {
            r.headers.get("content-type").and_then(|v| v.to_str().ok())
                == Some("application/x-protobuf")
                && r.body.windows(wanted.len()).any(|w| w == wanted.as_slice())
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no span of the trace reached the collector ({} posts)",
            requests.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_metrics_address_that_is_taken_stops_start_up_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let folder = Folder::new();
    let output = Command::new(BINARY)
        .arg("serve")
        .current_dir(&folder.0)
        .env_clear()
        .env("BACKOFFICE_LISTEN", "127.0.0.1:0")
        .env("BACKOFFICE_METRICS_LISTEN", &address)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("metrics_listen") && stderr.contains(&address),
        "{stderr}"
    );
}
