//! The ERP's catalog (products and stock), pulled every so often into the same inbox its
//! webhooks fill, so that the worker applies a pulled row exactly as a `product.updated` or
//! `stock.updated` delivery: the newer ERP time wins, whichever came first. Contract:
//! docs/integrations/erp.md, "Catalog pull".
//!
//! Each list (`GET /products`, `GET /stock`) is read from `updated_since` (the newest
//! `updated_at` the last run saw, listed again since the ERP answers `>=`: the inbox keeps one of
//! each) through its `next_cursor` pages. Each row becomes the webhook's envelope, `timestamp` =
//! its `updated_at`, under a message id of its own that is the same for the same row version
//! (`pull:product:<sku>:<updated_at>`), so a row a previous run stored is found in the inbox; a
//! row the catalog has at least as new (a webhook brought it) is not stored at all.
//!
//! A list that gave rows newer than where it started is listed once more from the newest (one
//! page of what changed in that second, usually): the `ETag` of that listing's first page is
//! kept with `updated_since`, and the next run sends it as `If-None-Match`; `304 Not Modified`
//! ends that list's run with nothing stored. An `ETag` is only sent with the `updated_since` it
//! came with. Each list's run is recorded (`provider_pulls`, `erp.products` and `erp.stock`)
//! with its error, if any: what it stored before stays stored, and the next run starts again
//! where this one got to.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use eventlog::StorageError;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;

use super::{
    inbox::Inbox,
    payload::erp::{self, ErpEventKind},
    pull::{self, PullRun},
};
use crate::outbound::{
    config::ErpConfig,
    http::{Credentials, HttpPartner},
    SetupError,
};

/// The sources the runs are recorded under, one per list.
pub const SOURCES: [&str; 2] = [List::Products.source(), List::Stock.source()];

/// Rows per page asked for.
const PAGE: u32 = 100;
/// Listings of one list per run: the first, and those from the newest `updated_at` seen while
/// the ERP keeps changing (after this many the next run goes on from there, without an `ETag`).
const ROUNDS: usize = 3;
/// The longest message id the inbox keeps; a longer one is replaced by its hash.
const MAX_ID: usize = 255;

/// One of the ERP's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Products,
    Stock,
}

impl List {
    const fn path(self) -> &'static str {
        match self {
            Self::Products => "/products",
            Self::Stock => "/stock",
        }
    }

    const fn source(self) -> &'static str {
        match self {
            Self::Products => "erp.products",
            Self::Stock => "erp.stock",
        }
    }

    /// The webhook type a row of this list is delivered as.
    const fn event_type(self) -> &'static str {
        match self {
            Self::Products => "product.updated",
            Self::Stock => "stock.updated",
        }
    }

    const fn noun(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Stock => "stock",
        }
    }
}

/// A page of a list.
#[derive(Debug, Deserialize)]
struct Page {
    data: Vec<Value>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// How a listing ended.
enum Listing {
    /// `304 Not Modified` to the `If-None-Match` sent.
    NotModified,
    /// Every page read: the first page's `ETag`, and the newest `updated_at` seen (Unix
    /// seconds; where it started when there was nothing newer).
    Read { etag: Option<String>, newest: i64 },
}

/// Where a list's next run starts, as its last run left it.
#[derive(Debug, Deserialize)]
struct Resume {
    next_since: i64,
    etag: Option<String>,
}

/// The runs of one pull, one per list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRuns {
    /// `GET /products`.
    pub products: PullRun,
    /// `GET /stock`.
    pub stock: PullRun,
}

/// The ERP's catalog, pulled into the inbox.
#[derive(Debug)]
pub struct ErpCatalogPull {
    partner: HttpPartner,
    inbox: Inbox,
    wake: Arc<Notify>,
}

impl ErpCatalogPull {
    /// Pulls from the ERP `config` names (its `base_url`, signed with its `secret` as the
    /// outbound ERP destination signs, each call given up after its `limits.timeout_ms`) into
    /// `inbox`, waking its worker.
    pub fn new(config: &ErpConfig, inbox: Inbox, wake: Arc<Notify>) -> Result<Self, SetupError> {
        let credentials = Credentials::StandardWebhooks(config.secret.clone());
        let partner = HttpPartner::new("erp", &config.base_url, credentials, &config.limits)?;
        Ok(Self {
            partner,
            inbox,
            wake,
        })
    }

    /// One run of each list: what changed since its last run, stored unless the inbox or the
    /// catalog has it already; each recorded, also when it fails.
    pub async fn run_once(&self) -> Result<CatalogRuns, StorageError> {
        let products = self.run_list(List::Products).await?;
        let stock = self.run_list(List::Stock).await?;
        Ok(CatalogRuns { products, stock })
    }

    async fn run_list(&self, list: List) -> Result<PullRun, StorageError> {
        let resume = resume(&self.inbox, list.source()).await?;
        let (since, etag) = resume.map_or((0, None), |r| (r.next_since, r.etag));
        let mut run = PullRun::starting(list.source(), since);
        let etag = match self.pull(list, etag, &mut run).await {
            Ok(etag) => etag,
            Err((error, etag)) => {
                run.error = Some(error);
                etag
            }
        };
        if run.stored > 0 {
            self.wake.notify_one();
        }
        run.finished_at = Utc::now();
        pull::record(&self.inbox, &run, etag.as_deref()).await?;
        Ok(run)
    }

    /// Lists `list` from `run.next_since`, moving it on as listings complete; the `ETag` to
    /// keep with it (also with an error: the one still valid for where the next run starts).
    async fn pull(
        &self,
        list: List,
        mut etag: Option<String>,
        run: &mut PullRun,
    ) -> Result<Option<String>, (String, Option<String>)> {
        for _ in 0..ROUNDS {
            let since = run.next_since;
            match self.list(list, since, etag.as_deref(), run).await {
                Err(error) => return Err((error, etag)),
                Ok(Listing::NotModified) => return Ok(etag),
                // Nothing newer than where it started: this listing's `ETag` names the list the
                // next run asks for.
                Ok(Listing::Read {
                    etag: first,
                    newest,
                }) if newest <= since => return Ok(first),
                Ok(Listing::Read { newest, .. }) => {
                    run.next_since = newest;
                    etag = None;
                }
            }
        }
        Ok(None)
    }

    /// Every page of `list` from `since`, the first with `If-None-Match: etag`; each row stored.
    async fn list(
        &self,
        list: List,
        since: i64,
        etag: Option<&str>,
        run: &mut PullRun,
    ) -> Result<Listing, String> {
        let failed = |what: &str| format!("listing the ERP's {}: {what}", list.noun());
        let updated_since = DateTime::from_timestamp(since, 0)
            .ok_or_else(|| failed(&format!("no time {since}")))?
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut cursor: Option<String> = None;
        let mut first_etag = None;
        let mut newest = since;
        loop {
            let mut query = vec![
                ("updated_since", updated_since.clone()),
                ("limit", PAGE.to_string()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let mut request = self.partner.get(list.path(), &query);
            if let (None, Some(etag)) = (&cursor, etag) {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            let response = request
                .send()
                .await
                .map_err(|e| failed(&eventlog::error_chain(&e.without_url())))?;
            let status = response.status();
            if status == reqwest::StatusCode::NOT_MODIFIED && cursor.is_none() && etag.is_some() {
                return Ok(Listing::NotModified);
            }
            if !status.is_success() {
                return Err(failed(&format!("the ERP answered {status}")));
            }
            if cursor.is_none() {
                first_etag = response
                    .headers()
                    .get(reqwest::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
            }
            let page: Page = response.json().await.map_err(|e| {
                failed(&format!(
                    "not a page: {}",
                    eventlog::error_chain(&e.without_url())
                ))
            })?;
            run.fetched += i64::try_from(page.data.len()).unwrap_or(i64::MAX);
            for row in page.data {
                let updated_at = self.store(list, row, run).await?;
                newest = newest.max(updated_at.timestamp());
            }
            match page.next_cursor.filter(|next| !next.is_empty()) {
                Some(next) if cursor.as_ref() == Some(&next) => {
                    return Err(failed("the ERP gave the same cursor again"));
                }
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(Listing::Read {
            etag: first_etag,
            newest,
        })
    }

    /// Stores `row` as the webhook delivery of it, unless the inbox has it already or the
    /// catalog has it at least as new; its `updated_at`.
    async fn store(
        &self,
        list: List,
        mut row: Value,
        run: &mut PullRun,
    ) -> Result<DateTime<Utc>, String> {
        let refused = |why: String| format!("a row of the ERP's {}: {why}", list.noun());
        let updated_at = row
            .as_object_mut()
            .and_then(|fields| fields.remove("updated_at"))
            .and_then(|at| at.as_str().map(str::to_owned))
            .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
            .ok_or_else(|| refused("no RFC 3339 updated_at".to_owned()))?
            .with_timezone(&Utc);
        let stamp = updated_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let body = json!({"type": list.event_type(), "timestamp": stamp, "data": row}).to_string();
        let event = erp::parse(body.as_bytes()).map_err(|e| refused(eventlog::error_chain(&e)))?;
        let (id, current) = match event.kind {
            ErpEventKind::ProductUpdated(product) => (
                format!("pull:product:{}:{stamp}", product.sku),
                catalog_has(
                    &self.inbox,
                    "SELECT count(*) FROM erp_products WHERE sku = $1 AND updated_at >= $2",
                    &[product.sku.as_str()],
                    updated_at,
                )
                .await,
            ),
            ErpEventKind::StockUpdated(stock) => {
                let warehouse = stock.warehouse.as_ref().map_or("", |w| w.as_str());
                let at = if warehouse.is_empty() {
                    String::new()
                } else {
                    format!("@{warehouse}")
                };
                (
                    format!("pull:stock:{}{at}:{stamp}", stock.sku),
                    catalog_has(
                        &self.inbox,
                        "SELECT count(*) FROM erp_stock \
                         WHERE sku = $1 AND warehouse = $2 AND updated_at >= $3",
                        &[stock.sku.as_str(), warehouse],
                        updated_at,
                    )
                    .await,
                )
            }
            _ => return Err(refused("not a product or a stock level".to_owned())),
        };
        if current.map_err(|e| refused(e.to_string()))? {
            run.duplicates += 1;
            return Ok(updated_at);
        }
        let id = if id.chars().count() > MAX_ID {
            format!(
                "pull:{}:sha256:{}",
                list.noun(),
                hex::encode(Sha256::digest(&id))
            )
        } else {
            id
        };
        let key = erp::inbox_key(&id, body.as_bytes()).map_err(|e| refused(e.to_string()))?;
        run.store(&self.inbox, key, body, &format!("GET {}", list.path()))
            .await?;
        Ok(updated_at)
    }

    /// Runs every `every` until the task is dropped; a run's error is recorded with it.
    pub async fn run_every(self, every: Duration) {
        pull::every(every, || async {
            self.run_once()
                .await
                .map(|runs| vec![runs.products, runs.stock])
        })
        .await;
    }
}

/// Whether the catalog has the row `sql` counts (`keys`, then the time `at`).
async fn catalog_has(
    inbox: &Inbox,
    sql: &str,
    keys: &[&str],
    at: DateTime<Utc>,
) -> Result<bool, StorageError> {
    let count: i64 = eventlog::on_readers!(inbox.log(), |pool, time| {
        let mut query = sqlx::query_scalar(sql);
        for key in keys {
            query = query.bind(*key);
        }
        query.bind(time(at)).fetch_one(pool).await
    })
    .map_err(|source| StorageError::Database {
        context: "reading the catalog",
        source,
    })?;
    Ok(count > 0)
}

/// Where the next run of `source` starts: its last run's `next_since` and `ETag`.
async fn resume(inbox: &Inbox, source: &str) -> Result<Option<Resume>, StorageError> {
    let (object, text) = eventlog::json_object(inbox.log());
    let sql = format!(
        "SELECT {object}('next_since', next_since, 'etag', etag){text} \
         FROM provider_pulls WHERE source = $1 ORDER BY started_at DESC LIMIT 1"
    );
    let mut last: Vec<Resume> = eventlog::json_rows(
        inbox.log(),
        &sql,
        &[eventlog::Param::Text(source.to_owned())],
        "reading where the last pull stopped",
    )
    .await?;
    Ok(last.pop())
}
