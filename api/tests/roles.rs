//! PostgreSQL with two roles (ADR 0021): an owner runs `backoffice migrate`, the service's
//! role reads, writes the tables beside the log, and appends only through append_events().
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use eventlog::{Append, EventLog, ExpectedVersion, NewEvent, StreamId};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use support::{cli_with, get, serve, Folder};

/// A fresh database owned by a fresh owner role, and a service role; all dropped at the end.
struct TwoRoles {
    admin_url: String,
    database: String,
    owner: String,
    service: String,
}

impl TwoRoles {
    async fn new() -> Self {
        let admin_url = eventlog::testing::admin_url();
        let id = uuid::Uuid::now_v7().simple().to_string();
        let roles = Self {
            admin_url,
            database: format!("bo_roles_{id}"),
            owner: format!("bo_owner_{id}"),
            service: format!("bo_service_{id}"),
        };
        let mut admin = PgConnection::connect(&roles.admin_url).await.unwrap();
        for statement in [
            format!("CREATE ROLE {} LOGIN", roles.owner),
            format!("CREATE ROLE {} LOGIN", roles.service),
            format!("CREATE DATABASE {} OWNER {}", roles.database, roles.owner),
        ] {
            sqlx::query(&statement).execute(&mut admin).await.unwrap();
        }
        roles
    }

    /// The URL of the database as `role` (the test server trusts local connections).
    fn url(&self, role: &str) -> String {
        let base = self.admin_url.rsplit_once('/').unwrap().0;
        let base = base.replacen("://", &format!("://{role}@"), 1);
        // The admin URL may name a user already: keep only ours.
        let base = match base.split_once('@') {
            Some((scheme_and_role, rest)) => match rest.split_once('@') {
                Some((_, host)) => format!("{scheme_and_role}@{host}"),
                None => base.clone(),
            },
            None => base,
        };
        format!("{base}/{}", self.database)
    }
}

impl Drop for TwoRoles {
    fn drop(&mut self) {
        let (admin_url, database, owner, service) = (
            self.admin_url.clone(),
            self.database.clone(),
            self.owner.clone(),
            self.service.clone(),
        );
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.unwrap();
                for statement in [
                    format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
                    format!("DROP ROLE IF EXISTS {service}"),
                    format!("DROP ROLE IF EXISTS {owner}"),
                ] {
                    let _ = sqlx::query(&statement).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

fn append(id: &str) -> Append {
    Append::new(
        StreamId::new("role-test", id),
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Placed", 1, json!({}))],
    )
}

#[tokio::test]
async fn the_service_role_appends_only_through_the_function_and_cannot_touch_the_log_otherwise() {
    let roles = TwoRoles::new().await;
    let folder = Folder::new();
    let owner_url = roles.url(&roles.owner);
    let service_url = roles.url(&roles.service);
    let as_owner = [("DATABASE_URL", owner_url.as_str())];
    let (ok, _, stderr) = cli_with(&folder.0, &as_owner, &["migrate"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = cli_with(
        &folder.0,
        &as_owner,
        &["db", "grant", "--service-role", &roles.service],
    );
    assert!(ok, "{stderr}");

    // The log through the service role: appends pass through append_events().
    let log = EventLog::connect(&service_url, &eventlog::ConnectOptions::default())
        .await
        .unwrap();
    assert!(!log.can_migrate().await.unwrap());
    assert!(log.migrations_applied().await.unwrap());
    let appended = log.append(append("through-the-function")).await.unwrap();
    assert_eq!(appended.stream_version(), Some(1));

    // Everything else that would change the log is refused by the database.
    let mut service = PgConnection::connect(&service_url).await.unwrap();
    let refused = [
        "UPDATE events SET event_type = 'Forged'",
        "DELETE FROM events",
        "TRUNCATE events",
        "TRUNCATE event_idempotency_keys",
        "UPDATE event_links SET link = link",
        "DELETE FROM event_links",
        "TRUNCATE event_links",
        "ALTER TABLE event_links DISABLE TRIGGER ALL",
        "UPDATE audit_seals SET root = root",
        "DELETE FROM audit_seals",
        "TRUNCATE audit_seals",
        "ALTER TABLE audit_seals DISABLE TRIGGER ALL",
        "ALTER TABLE events DISABLE TRIGGER ALL",
        "ALTER TABLE events DISABLE TRIGGER events_append_only",
        "DROP TRIGGER events_append_only ON events",
        "DROP TABLE events",
        "INSERT INTO events (event_id, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata, transaction_id) \
         VALUES (gen_random_uuid(), 'order', 'forged', 1, 'Forged', 1, '{}', '{}', \
         pg_current_xact_id())",
        "INSERT INTO event_idempotency_keys (idempotency_key, aggregate_type, aggregate_id, \
         first_sequence, last_sequence) VALUES ('forged', 'order', 'x', 1, 1)",
        "UPDATE _sqlx_migrations SET success = true",
        "DELETE FROM _sqlx_migrations",
        "ALTER FUNCTION append_events(text[], text[], bigint[], text[], int[], int[], uuid[], \
         text[], int[], jsonb[], jsonb[]) SECURITY INVOKER",
        // No object of its own may shadow one append_events() calls.
        "CREATE TABLE events_shadow (id int)",
        "CREATE FUNCTION unnest(text[]) RETURNS SETOF text LANGUAGE sql AS 'SELECT 1::text'",
    ];
    for statement in refused {
        let error = sqlx::query(statement)
            .execute(&mut service)
            .await
            .expect_err(statement)
            .to_string();
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{statement}: {error}"
        );
    }
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events ORDER BY position")
            .fetch_all(&mut service)
            .await
            .unwrap();
    assert_eq!(stored, ["through-the-function"]);

    // The whole service runs under the role: users, commands, projections, readiness.
    let as_service = [("DATABASE_URL", service_url.as_str())];
    let (ok, token, stderr) = cli_with(
        &folder.0,
        &as_service,
        &["users", "create", "--name", "ana", "--role", "operator"],
    );
    assert!(ok, "{stderr}");
    let served = serve(&folder.0, &as_service);
    let (status, ready) = get(&served.address, "/health/ready").await;
    assert_eq!(status, 200, "{ready}\n{}", served.log_lines().join("\n"));
    let placed = reqwest::Client::new()
        .post(format!("http://{}/api/v1/orders", served.address))
        .bearer_auth(token.trim())
        .json(&json!({
            "customer_id": uuid::Uuid::now_v7(),
            "currency": "EUR",
            "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 1000}],
            "shipping_address": {"recipient": "Ana", "line1": "Street 1", "city": "Berlin", "country": "DE"},
            "external_reference": "SHOP-1"
        }))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201, "{}", placed.text().await.unwrap());
    // The sealer, under the role too, adds its seals (the first at once).
    let started = std::time::Instant::now();
    loop {
        let seals: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_seals")
            .fetch_one(&mut service)
            .await
            .unwrap();
        if seals > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no seal: {}",
            served.log_lines().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(served);

    // A migration the owner has not applied (the write probe's, undone): the service role
    // refuses to start.
    let mut owner = PgConnection::connect(&owner_url).await.unwrap();
    for undo in [
        "DROP TABLE write_probe",
        "DELETE FROM _sqlx_migrations WHERE version = 20",
    ] {
        sqlx::query(undo).execute(&mut owner).await.unwrap();
    }
    let (ok, _, stderr) = cli_with(&folder.0, &as_service, &["serve"]);
    assert!(!ok);
    assert!(
        stderr.contains("not current") && stderr.contains("backoffice migrate"),
        "{stderr}"
    );
    // The owner migrates on start as before (a one-role set-up).
    let (ok, _, stderr) = cli_with(&folder.0, &as_owner, &["migrate"]);
    assert!(ok, "{stderr}");
    assert!(log.migrations_applied().await.unwrap());
}
