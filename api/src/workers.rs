//! Everything `serve` runs beside the HTTP server, in one place: on PostgreSQL the listener
//! that lets it remember API tokens' callers (`crate::callers`) and the chainer, the sealer of
//! the hash chain (`eventlog::sealer`), the read models' projections
//! (`projections::ReadModel`), the process managers (`commands::process`), the webhook inbox
//! worker, the configured outbound destinations (`adapters::outbound`), the pull of Stripe's
//! events (`adapters::inbound::pull`) and the pull of the ERP's catalog
//! (`adapters::inbound::catalog_pull`). `serve` spawns them,
//! `backoffice projections status`, `backoffice integrations status` and the takeover test list
//! them by name; each kind is declared once in its own crate.

use adapters::{
    inbound::{catalog_pull::ErpCatalogPull, pull::StripePull, Worker, WorkerOptions},
    outbound::{self, SetupError},
};
use eventlog::RecordedEvent;
use projections::{ReadModel, ReadModelProjection};
use tokio::task::JoinSet;

use crate::AppState;

/// The subscribers `serve` always runs, by name: the read models' projections, then the
/// process managers. (The outbound destinations run only where configured:
/// `backoffice integrations status`.)
pub fn subscriber_names() -> impl Iterator<Item = &'static str> {
    ReadModel::ALL
        .into_iter()
        .map(ReadModel::name)
        .chain(commands::process::NAMES)
}

/// The lane of subscriber `name`'s step for `event`: a process manager's or a destination's.
pub fn lane_of(name: &str, event: &RecordedEvent) -> Option<String> {
    commands::process::lane_of(name, event).or_else(|| outbound::lane_of(name, event))
}

/// Runs, in the background, everything that follows the log and the inbox: the read-model
/// projections, the process managers and the configured outbound destinations (each under its
/// claim, so several processes may call this), on PostgreSQL the chainer, the sealer when the
/// state has one, and the webhook inbox worker. Dropping the
/// returned set stops them. Fails if a destination's configuration cannot be used.
pub async fn spawn_workers(state: &AppState) -> Result<JoinSet<()>, SetupError> {
    let mut workers = JoinSet::new();
    let log = &state.log;
    let options = WorkerOptions {
        process: state.process.to_string(),
        ..state.inbox_options.clone()
    };
    if let eventlog::EventLog::Postgres(pg) = log {
        workers.spawn(state.callers.clone().listen(pg.pool().clone()));
        // PostgreSQL's hash chain is linked behind the appends (ADR 0027); SQLite's in them.
        let log = log.clone();
        workers.spawn(async move {
            log.run_projection(&eventlog::chain::Chainer, &Default::default())
                .await
        });
    }
    // The seals over the chain (issue 18), under their own claim: one process seals at a time.
    if let Some(sealer) = state.sealer.clone() {
        let log = log.clone();
        workers.spawn(async move { sealer.run(&log).await });
    }
    let worker = Worker::new(log.clone(), options).woken_by(state.webhooks.wake());
    workers.spawn(async move { worker.run().await });
    for model in ReadModel::ALL {
        let (log, projection) = (log.clone(), ReadModelProjection::new(log.clone(), model));
        workers.spawn(async move { log.run_projection(&projection, &Default::default()).await });
    }
    commands::process::spawn_all(&state.handler, &state.process_options, &mut workers);
    outbound::spawn_configured(&state.handler, &state.outbound, &mut workers).await?;
    if let Some(stripe) = state
        .outbound
        .stripe
        .as_ref()
        .filter(|s| s.pull_every_secs > 0)
    {
        let pull = StripePull::new(
            &stripe.base_url,
            stripe.secret_key.clone(),
            state.webhooks.inbox().clone(),
            state.webhooks.wake(),
        )
        .map_err(|e| SetupError::new("stripe", format!("the HTTP client: {e}")))?;
        let every = std::time::Duration::from_secs(stripe.pull_every_secs);
        workers.spawn(pull.run_every(every));
    }
    if let Some(erp) = state
        .outbound
        .erp
        .as_ref()
        .filter(|e| e.catalog_pull_every_secs > 0)
    {
        let pull = ErpCatalogPull::new(erp, state.webhooks.inbox().clone(), state.webhooks.wake())?;
        let every = std::time::Duration::from_secs(erp.catalog_pull_every_secs);
        workers.spawn(pull.run_every(every));
    }
    if let Some(easypost) = state
        .outbound
        .easypost
        .as_ref()
        .filter(|e| e.tracker_pull_every_secs > 0)
    {
        let pull = adapters::inbound::tracker_pull::EasyPostTrackerPull::new(
            easypost,
            state.webhooks.inbox().clone(),
            state.webhooks.wake(),
        )?;
        let every = std::time::Duration::from_secs(easypost.tracker_pull_every_secs);
        workers.spawn(pull.run_every(every));
    }
    Ok(workers)
}
