//! EasyPost's trackers of parcels under way that its webhooks have been quiet about, pulled
//! every so often into the same inbox its webhooks fill: each becomes a `tracker.updated`
//! event, so that the worker applies it as a delivery (each scan recorded once by its carrier
//! time and status; the newest moves the shipment). Contract: docs/integrations/easypost.md.
//!
//! A parcel is under way from its label until it is delivered, returned or cancelled; it is
//! quiet when neither a tracking update nor anything else changed it for `tracker_quiet_secs`.
//! Its tracker is looked up by tracking code (`GET /v2/trackers?tracking_code=…`) and stored
//! under `pull:<tracker id>:<its updated_at>`, so an unchanged tracker pulled again is found in
//! the inbox. Each run is recorded (`provider_pulls`, source `easypost`) with its error, if
//! any: what it stored before stays stored.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use eventlog::StorageError;
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::{
    inbox::Inbox,
    payload::easypost,
    pull::{self, PullRun},
};
use crate::outbound::{
    config::EasyPostConfig,
    http::{Credentials, HttpPartner},
    SetupError,
};

/// The most trackers one run looks up (the quietest first); the rest wait for the next run.
const MOST: i64 = 500;

/// EasyPost's trackers, pulled into the inbox.
#[derive(Debug, Clone)]
pub struct EasyPostTrackerPull {
    partner: HttpPartner,
    quiet: chrono::Duration,
    inbox: Inbox,
    wake: Arc<Notify>,
}

impl EasyPostTrackerPull {
    /// Pulls from the EasyPost `config` names (its `api_key`, each call given up after its
    /// `limits.timeout_ms`) into `inbox`, waking its worker.
    pub fn new(
        config: &EasyPostConfig,
        inbox: Inbox,
        wake: Arc<Notify>,
    ) -> Result<Self, SetupError> {
        let credentials = Credentials::KeyAsUser(config.api_key.clone());
        let partner = HttpPartner::new("easypost", &config.base_url, credentials, &config.limits)?;
        let quiet = chrono::Duration::seconds(
            i64::try_from(config.tracker_quiet_secs).unwrap_or(i64::MAX / 1_000),
        );
        Ok(Self {
            partner,
            quiet,
            inbox,
            wake,
        })
    }

    /// One run: the tracker of every quiet parcel under way, stored unless the inbox has it
    /// already; recorded, also when it fails.
    pub async fn run_once(&self) -> Result<PullRun, StorageError> {
        let mut run = PullRun::starting(easypost::SOURCE.as_str(), Utc::now().timestamp());
        let codes = quiet_parcels(&self.inbox, run.started_at - self.quiet).await?;
        for code in codes {
            if let Err(error) = self.pull(&code, &mut run).await {
                run.error = Some(error);
                break;
            }
        }
        if run.stored > 0 {
            self.wake.notify_one();
        }
        run.finished_at = Utc::now();
        pull::record(&self.inbox, &run, None).await?;
        Ok(run)
    }

    async fn pull(&self, code: &str, run: &mut PullRun) -> Result<(), String> {
        let response = self
            .partner
            .get("/v2/trackers", &[("tracking_code", code.to_owned())])
            .send()
            .await
            .map_err(|e| format!("listing EasyPost's trackers: {}", pull::without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "listing EasyPost's trackers: EasyPost answered {status}"
            ));
        }
        let list: Value = response
            .json()
            .await
            .map_err(|e| format!("reading EasyPost's trackers: {}", pull::without_url(&e)))?;
        let Some(tracker) = list["trackers"]
            .as_array()
            .and_then(|trackers| trackers.iter().find(|t| t["tracking_code"] == code))
        else {
            return Ok(());
        };
        run.fetched += 1;
        let updated_at = tracker["updated_at"]
            .as_str()
            .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
            .map_or_else(Utc::now, |at| at.with_timezone(&Utc));
        let id = tracker["id"].as_str().unwrap_or(code);
        let body = json!({
            "id": format!("pull:{id}:{}", updated_at.timestamp()),
            "object": "Event",
            "description": "tracker.updated",
            "created_at": updated_at,
            "result": tracker,
        })
        .to_string();
        let key = easypost::inbox_key(body.as_bytes())
            .map_err(|e| format!("a tracker EasyPost listed: {e}"))?;
        run.store(&self.inbox, key, body, "GET /v2/trackers").await
    }

    /// Runs every `every` until the task is dropped; a run's error is recorded with it.
    pub async fn run_every(self, every: Duration) {
        pull::every(every, || async {
            self.run_once().await.map(|run| vec![run])
        })
        .await;
    }
}

/// The tracking codes of the parcels under way that nothing changed since `before`, the
/// quietest first.
async fn quiet_parcels(inbox: &Inbox, before: DateTime<Utc>) -> Result<Vec<String>, StorageError> {
    let sql = format!(
        "SELECT tracking_number FROM shipments \
         WHERE status IN ('label_created', 'in_transit', 'out_for_delivery', 'delivery_failed') \
           AND tracking_number IS NOT NULL AND updated_at < $1 \
         ORDER BY updated_at LIMIT {MOST}"
    );
    eventlog::on_readers!(inbox.log(), |pool, time| sqlx::query_scalar(&sql)
        .bind(time(before))
        .fetch_all(pool)
        .await)
    .map_err(|source| StorageError::Database {
        context: "reading the parcels under way",
        source,
    })
}
