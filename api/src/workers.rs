//! Everything `serve` runs beside the HTTP server, in one place: the read models' projections
//! (`projections::ReadModel`), the process managers (`commands::process`) and the webhook
//! inbox worker. `serve` spawns them, `backoffice projections status` and the takeover test
//! list them by name; each kind is declared once in its own crate.

use adapters::inbound::{Worker, WorkerOptions};
use projections::{ReadModel, ReadModelProjection};
use tokio::task::JoinSet;

use crate::AppState;

/// The subscribers `serve` runs, by name: the read models' projections, then the process
/// managers.
pub fn subscriber_names() -> impl Iterator<Item = &'static str> {
    ReadModel::ALL
        .into_iter()
        .map(ReadModel::name)
        .chain(commands::process::NAMES)
}

/// Runs, in the background, everything that follows the log and the inbox: the read-model
/// projections, the process managers (each under its claim, so several processes may call
/// this) and the webhook inbox worker. Dropping the returned set stops them.
#[must_use = "dropping the set stops the workers"]
pub fn spawn_workers(state: &AppState) -> JoinSet<()> {
    let mut workers = JoinSet::new();
    let log = &state.log;
    let options = WorkerOptions {
        process: state.process.to_string(),
        ..state.inbox_options.clone()
    };
    let worker = Worker::new(log.clone(), options).woken_by(state.webhooks.wake());
    workers.spawn(async move { worker.run().await });
    for model in ReadModel::ALL {
        let (log, projection) = (log.clone(), ReadModelProjection::new(log.clone(), model));
        workers.spawn(async move { log.run_projection(&projection, &Default::default()).await });
    }
    commands::process::spawn_all(log, &state.process_options, &mut workers);
    workers
}
