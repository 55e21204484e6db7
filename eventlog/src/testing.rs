//! Test support for this crate and the crates above it: a fresh database per test on either
//! backend, dropped when the test ends (also when it panics).

use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{ConnectOptions, EventLog};

/// Where tests find PostgreSQL: `BACKOFFICE_TEST_POSTGRES_URL`, else the local server.
pub fn admin_url() -> String {
    std::env::var("BACKOFFICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL to connect to.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Postgres { admin_url: String, name: String },
    Sqlite { path: std::path::PathBuf },
}

impl TestDatabase {
    /// A new, empty PostgreSQL database. Panics at once, with what to do, when PostgreSQL is
    /// unreachable: tests fail fast instead of hanging.
    pub async fn postgres() -> Self {
        let admin_url = admin_url();
        ensure_reachable(&admin_url).await;
        let name = format!("bo_test_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {admin_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let url = match admin_url.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin_url[..slash]),
            None => panic!("BACKOFFICE_TEST_POSTGRES_URL has no database part: {admin_url}"),
        };
        Self {
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    /// A new SQLite database file in the temporary folder.
    pub fn sqlite() -> Self {
        let path = std::env::temp_dir().join(format!("bo_test_{}.db", Uuid::now_v7().simple()));
        Self {
            url: format!("sqlite:{}", path.display()),
            cleanup: Cleanup::Sqlite { path },
        }
    }

    /// The migrated event log on this database. A connection may take up to 30 s to come free
    /// (production: 5 s): tests run many at once on a shared machine.
    pub async fn log(&self) -> EventLog {
        self.log_with(&ConnectOptions {
            acquire_timeout: Duration::from_secs(30),
            ..ConnectOptions::default()
        })
        .await
    }

    /// The migrated event log on this database, connected with `options`.
    pub async fn log_with(&self, options: &ConnectOptions) -> EventLog {
        let log = EventLog::connect(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test database: {e}"));
        log.migrate()
            .await
            .unwrap_or_else(|e| panic!("migrating the test database: {e}"));
        log
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
                let mut claims = path.clone().into_os_string();
                claims.push(".claims");
                let _ = std::fs::remove_dir_all(claims);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime, which cannot be blocked on: use our own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        let mut admin = PgConnection::connect(&admin_url).await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await?;
                        Ok::<_, sqlx::Error>(())
                    })?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    tracing::warn!(database = %self.url, "could not drop a test database");
                }
            }
        }
    }
}

/// Checks once per test binary that PostgreSQL answers within 15 s (a refused connection
/// fails at once; a busy server may be slow to start a backend).
async fn ensure_reachable(admin_url: &str) {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    if let Some(known) = REACHABLE.get() {
        if let Err(message) = known {
            panic!("{message}");
        }
        return;
    }
    let started = Instant::now();
    let outcome =
        match tokio::time::timeout(Duration::from_secs(15), PgConnection::connect(admin_url)).await
        {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(format!(
                "PostgreSQL is unreachable at {} ({e}). The tests need it: start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or point BACKOFFICE_TEST_POSTGRES_URL at a server.",
                crate::redact_url(admin_url)
            )),
            Err(_) => Err(format!(
                "PostgreSQL at {} did not answer within {:?}; the tests need it.",
                crate::redact_url(admin_url),
                started.elapsed()
            )),
        };
    let outcome = REACHABLE.get_or_init(|| outcome);
    if let Err(message) = outcome {
        panic!("{message}");
    }
}

/// Instantiates each named `async fn name(db: &TestDatabase, log: EventLog)` once per backend,
/// as `postgres::name` and `sqlite::name`: one suite, both backends (ADR 0002). The calling
/// crate needs `tokio` (with `macros`) among its dev-dependencies.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::testing::TestDatabase::postgres().await;
                    super::$name(&db, db.log().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::testing::TestDatabase::sqlite();
                    super::$name(&db, db.log().await).await;
                }
            )*
        }
    };
}

/// Waits until readers of the whole log see every event stored so far and answers that
/// position. The visible head lags the stored one while any older transaction of the cluster
/// is open, another test's included (ADR 0001): a test that must see "everything appended"
/// waits for this, never for [`EventLog::head`].
pub async fn everything_visible(log: &EventLog) -> i64 {
    let stored = log
        .last_position()
        .await
        .unwrap_or_else(|error| panic!("reading the stored head: {error}"));
    let visible = log
        .wait_until_visible(stored, std::time::Duration::from_secs(30))
        .await
        .unwrap_or_else(|error| panic!("waiting for the log: {error}"));
    assert!(visible, "position {stored} never became visible");
    stored
}

/// A small tmpfs mounted for one test, to fill up: a real full disk. Needs root (the tests
/// run as root here and in CI); unmounted when dropped.
#[derive(Debug)]
pub struct SmallFilesystem {
    /// Where it is mounted.
    pub path: std::path::PathBuf,
}

impl SmallFilesystem {
    /// Mounts a tmpfs of `megabytes`. Panics, saying why, when it cannot.
    pub fn mount(megabytes: u32) -> Self {
        let path = std::env::temp_dir().join(format!("bo_fs_{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {path:?}: {e}"));
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700")])
            .arg("tmpfs")
            .arg(&path)
            .status()
            .unwrap_or_else(|e| panic!("running mount: {e}"));
        assert!(
            status.success(),
            "mounting a tmpfs at {path:?} failed ({status}): this test needs root to make a \
             real full filesystem"
        );
        Self { path }
    }

    /// Writes a filler file until the filesystem is full.
    pub fn fill(&self) {
        use std::io::Write as _;
        let mut filler = std::fs::File::create(self.path.join("filler"))
            .unwrap_or_else(|e| panic!("creating the filler: {e}"));
        let block = vec![0u8; 64 * 1024];
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the filesystem: {e}"),
            }
        }
        // Byte by byte, the last partial block.
        while filler.write(&[0]).is_ok_and(|n| n == 1) {}
        let _ = filler.flush();
    }

    /// Removes the filler: space is back.
    pub fn free(&self) {
        std::fs::remove_file(self.path.join("filler"))
            .unwrap_or_else(|e| panic!("removing the filler: {e}"));
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// postgres-es 0.5's own schema (its `db/init.sql`), under names of their own
/// (`pges_events`, `pges_snapshots`) so that it sits beside ours: the contender of the append
/// and commands benchmarks.
pub const POSTGRES_ES_TABLES: [&str; 2] = [
    "CREATE TABLE pges_events (aggregate_type text NOT NULL, aggregate_id text NOT NULL, \
     sequence bigint CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL, \
     event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL, \
     PRIMARY KEY (aggregate_type, aggregate_id, sequence))",
    "CREATE TABLE pges_snapshots (aggregate_type text NOT NULL, aggregate_id text NOT NULL, \
     last_sequence bigint NOT NULL, current_snapshot bigint NOT NULL, payload json NOT NULL, \
     PRIMARY KEY (aggregate_type, aggregate_id, last_sequence))",
];
