//! What webhooks may have missed, pulled from the provider in the background and fed into the
//! same inbox under the same event id, so that pull and push agree: the inbox's key keeps one of
//! each, whichever came first, and the worker applies it once. Stripe: its events since the last
//! run (`GET /v1/events` with `created[gte]`, newest first, `starting_after` cursor pages).
//! Every run is recorded (`provider_pulls`: what it fetched, stored, found stored already, and
//! its error) and shown by `backoffice integrations status`. The ERP's catalog is pulled the
//! same way, per list (`super::catalog_pull`).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use eventlog::{json_object, Param, StorageError};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{
    inbox::{Inbox, NewDelivery, Stored},
    payload::stripe,
};
use crate::outbound::stripe::STRIPE_VERSION;

/// One pull, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullRun {
    /// The source pulled (`stripe`; the ERP's catalog per list, `erp.products` and
    /// `erp.stock`).
    pub source: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Events (the ERP: rows) the provider listed.
    pub fetched: i64,
    /// Of them, new to the inbox (webhooks had missed them).
    pub stored: i64,
    /// Of them, in the inbox already (the ERP's rows: or in the catalog at least as new).
    pub duplicates: i64,
    /// Why it stopped short, if it did (what it stored until then stays stored).
    pub error: Option<String>,
    /// The provider's time (Unix seconds) the next run lists from: Stripe's events' creation,
    /// the ERP's rows' `updated_at`.
    pub next_since: i64,
}

impl PullRun {
    /// A run of `source` starting now, from `next_since`, nothing done yet.
    pub fn starting(source: &str, next_since: i64) -> Self {
        let now = Utc::now();
        Self {
            source: source.to_owned(),
            started_at: now,
            finished_at: now,
            fetched: 0,
            stored: 0,
            duplicates: 0,
            error: None,
            next_since,
        }
    }

    /// Stores what was pulled from `from` (`GET /v1/events`) under `key` in `inbox`, counted as
    /// new or as found there already.
    pub(crate) async fn store(
        &mut self,
        inbox: &Inbox,
        key: super::payload::InboxKey,
        body: String,
        from: &str,
    ) -> Result<(), String> {
        let delivery = NewDelivery {
            key,
            body,
            headers: serde_json::json!({ "x-backoffice-pulled": from }),
            received_at: Utc::now(),
        };
        match inbox.store(&delivery).await {
            Ok(Stored::New) => self.stored += 1,
            Ok(Stored::Duplicate) => self.duplicates += 1,
            Err(error) => return Err(format!("storing what {from} gave: {error}")),
        }
        Ok(())
    }
}

/// Stripe's event list, pulled into the inbox.
#[derive(Debug, Clone)]
pub struct StripePull {
    client: reqwest::Client,
    base_url: String,
    secret_key: SecretString,
    inbox: Inbox,
    wake: Arc<Notify>,
}

/// A page of `GET /v1/events`.
#[derive(Debug, Deserialize)]
struct Page {
    data: Vec<serde_json::Value>,
    has_more: bool,
}

/// How long one call to Stripe may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Events per page (Stripe's most).
const PAGE: u32 = 100;
/// The first run lists this far back (Stripe keeps events for 30 days).
const FIRST_LOOK_BACK: i64 = 3 * 24 * 3600;

impl StripePull {
    /// Pulls from Stripe at `base_url` with `secret_key` into `inbox`, waking its worker.
    pub fn new(
        base_url: &str,
        secret_key: SecretString,
        inbox: Inbox,
        wake: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("backoffice/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret_key,
            inbox,
            wake,
        })
    }

    /// One run: every event Stripe lists since the last run's newest, stored unless it is in
    /// the inbox already; recorded, also when it fails.
    pub async fn run_once(&self) -> Result<PullRun, StorageError> {
        let since = match last_run(&self.inbox, stripe::SOURCE.as_str()).await? {
            Some(last) => last.next_since,
            None => Utc::now().timestamp() - FIRST_LOOK_BACK,
        };
        let mut run = PullRun::starting(stripe::SOURCE.as_str(), since);
        let mut intents = super::reconcile::Intents::new();
        if let Err(error) = self.pull(since, &mut run, &mut intents).await {
            run.error = Some(error);
        }
        if run.stored > 0 {
            self.wake.notify_one();
        }
        if run.error.is_none() && !intents.is_empty() {
            let reconcile = super::reconcile::Reconcile {
                client: &self.client,
                base_url: &self.base_url,
                secret_key: &self.secret_key,
                inbox: &self.inbox,
            };
            if let Err(error) = reconcile.stripe(&intents).await {
                run.error = Some(error);
            }
        }
        run.finished_at = Utc::now();
        record(&self.inbox, &run, None).await?;
        Ok(run)
    }

    /// Lists Stripe's events since `since` into the inbox, gathering the payment intents they
    /// are about into `intents`.
    async fn pull(
        &self,
        since: i64,
        run: &mut PullRun,
        intents: &mut super::reconcile::Intents,
    ) -> Result<(), String> {
        let mut after: Option<String> = None;
        // Events created in the second the last run ended are listed again (`gte`): the inbox
        // keeps one of each.
        let mut newest = since;
        loop {
            let mut query = vec![
                ("limit".to_owned(), PAGE.to_string()),
                ("created[gte]".to_owned(), since.to_string()),
            ];
            if let Some(id) = &after {
                query.push(("starting_after".to_owned(), id.clone()));
            }
            let response = self
                .client
                .get(format!("{}/v1/events", self.base_url))
                .bearer_auth(self.secret_key.expose_secret())
                .header("Stripe-Version", STRIPE_VERSION)
                .query(&query)
                .send()
                .await
                .map_err(|e| format!("listing Stripe's events: {}", without_url(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("listing Stripe's events: Stripe answered {status}"));
            }
            let page: Page = response
                .json()
                .await
                .map_err(|e| format!("reading Stripe's event list: {}", without_url(&e)))?;
            for event in &page.data {
                let created = event["created"].as_i64().unwrap_or(since);
                newest = newest.max(created);
                self.store(event, run).await?;
                super::reconcile::gather(intents, event);
            }
            run.fetched += i64::try_from(page.data.len()).unwrap_or(i64::MAX);
            match (
                page.has_more,
                page.data.last().and_then(|e| e["id"].as_str()),
            ) {
                (true, Some(last)) => after = Some(last.to_owned()),
                _ => break,
            }
        }
        run.next_since = newest;
        Ok(())
    }

    async fn store(&self, event: &serde_json::Value, run: &mut PullRun) -> Result<(), String> {
        let body = event.to_string();
        let key = stripe::inbox_key(body.as_bytes())
            .map_err(|e| format!("an event Stripe listed: {e}"))?;
        run.store(&self.inbox, key, body, "GET /v1/events").await
    }

    /// Runs every `every` until the task is dropped; a run's error is recorded with it.
    pub async fn run_every(self, every: Duration) {
        self::every(every, || async {
            self.run_once().await.map(|run| vec![run])
        })
        .await;
    }
}

/// Runs `runs` every `every` until the task is dropped, logging what each of its runs did (a
/// run's error is also recorded with it, and shown by `integrations status`).
pub(crate) async fn every<F, Fut>(every: Duration, mut runs: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<PullRun>, StorageError>>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match runs().await {
            Ok(runs) => {
                for run in runs {
                    let (source, error) = (run.source.as_str(), &run.error);
                    if error.is_some() {
                        tracing::warn!(source, ?error, "pull stopped short");
                    } else {
                        let (fetched, stored) = (run.fetched, run.stored);
                        tracing::info!(source, fetched, stored, "pulled");
                    }
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot record a pull"),
        }
    }
}

/// An HTTP error without its URL (which carries no secret here, but a query the reader need
/// not see).
pub(crate) fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "Stripe");
    }
    text
}

/// The last run of `source`, if there was one.
pub async fn last_run(inbox: &Inbox, source: &str) -> Result<Option<PullRun>, StorageError> {
    let (object, text) = json_object(inbox.log());
    let sql = format!(
        "SELECT {object}('source', source, 'started_at', started_at, 'finished_at', finished_at, \
           'fetched', fetched, 'stored', stored, 'duplicates', duplicates, 'error', error, \
           'next_since', next_since){text} \
         FROM provider_pulls WHERE source = $1 ORDER BY started_at DESC LIMIT 1"
    );
    let mut runs: Vec<PullRun> = eventlog::json_rows(
        inbox.log(),
        &sql,
        &[Param::Text(source.to_owned())],
        "reading the last pull",
    )
    .await?;
    Ok(runs.pop())
}

/// The last pull to show for destination `name`: the last run of source `name` or, for a
/// partner pulled per list (the ERP's `erp.products` and `erp.stock`), the last run of each
/// list together (their counts added up, their errors each behind its list's name, the
/// earliest `next_since`).
pub async fn last_pull(inbox: &Inbox, name: &str) -> Result<Option<PullRun>, StorageError> {
    if let Some(run) = last_run(inbox, name).await? {
        return Ok(Some(run));
    }
    let (object, text) = json_object(inbox.log());
    let sql = format!(
        "SELECT {object}('source', source, 'started_at', started_at, 'finished_at', finished_at, \
           'fetched', fetched, 'stored', stored, 'duplicates', duplicates, 'error', error, \
           'next_since', next_since){text} \
         FROM provider_pulls p WHERE source LIKE $1 AND started_at = \
           (SELECT max(started_at) FROM provider_pulls q WHERE q.source = p.source) \
         ORDER BY source"
    );
    let runs: Vec<PullRun> = eventlog::json_rows(
        inbox.log(),
        &sql,
        &[Param::Text(format!("{name}.%"))],
        "reading the last pulls",
    )
    .await?;
    let together = runs
        .into_iter()
        .map(|mut run| {
            run.error = run.error.map(|error| format!("{}: {error}", run.source));
            run.source = name.to_owned();
            run
        })
        .reduce(|mut all, run| {
            all.started_at = all.started_at.min(run.started_at);
            all.finished_at = all.finished_at.max(run.finished_at);
            all.fetched += run.fetched;
            all.stored += run.stored;
            all.duplicates += run.duplicates;
            all.next_since = all.next_since.min(run.next_since);
            all.error = match (all.error.take(), run.error) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            all
        });
    Ok(together)
}

/// Records `run`, with the `ETag` of the list the next run starts from, if it is kept.
pub(crate) async fn record(
    inbox: &Inbox,
    run: &PullRun,
    etag: Option<&str>,
) -> Result<(), StorageError> {
    let sql = "INSERT INTO provider_pulls (source, started_at, finished_at, fetched, stored, \
         duplicates, error, next_since, etag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    eventlog::on_writer!(inbox.log(), |pool, time| sqlx::query(sql)
        .bind(&run.source)
        .bind(time(run.started_at))
        .bind(time(run.finished_at))
        .bind(run.fetched)
        .bind(run.stored)
        .bind(run.duplicates)
        .bind(run.error.as_deref())
        .bind(run.next_since)
        .bind(etag)
        .execute(pool)
        .await
        .map(|_| ()))
    .map_err(|source| StorageError::Database {
        context: "recording a pull",
        source,
    })?;
    Ok(())
}
