//! `backoffice projections status` and `integrations status` as tables for people.

use anyhow::Context as _;

use super::print;

pub(crate) async fn print_status(log: &eventlog::EventLog) -> anyhow::Result<()> {
    let head = log
        .head()
        .await
        .context("while reading the head position")?;
    let known = log
        .subscribers()
        .await
        .context("while reading subscriber status")?;
    let mut out = format!(
        "{:<28} {:>10} {:>10} {:>8}  {:<8} {:>6} {:>7} {:>8}  {:<27} last error\n",
        "name", "position", "head", "lag", "state", "parked", "waiting", "retrying", "last batch"
    );
    // Others known (a rebuild's shadow projection) follow those `serve` runs.
    let served: Vec<&str> = api::workers::subscriber_names().collect();
    let others = known
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| !served.contains(name));
    for name in served.iter().copied().chain(others) {
        let status = known.iter().find(|s| s.name == name);
        let position = status.map_or(0, |s| s.position);
        let state = match status {
            None => "idle",
            Some(s) if s.state == "failed" => "failed",
            Some(s) if s.is_degraded() => "degraded",
            Some(s) => s.state.as_str(),
        };
        let (parked, waiting, retrying) =
            status.map_or((0, 0, 0), |s| (s.parked, s.waiting, s.retrying));
        let last_batch = status
            .and_then(|s| s.last_batch_at)
            .map_or_else(|| "-".to_owned(), |at| at.to_rfc3339());
        let error = status
            .and_then(|s| {
                s.last_error
                    .as_ref()
                    .map(|e| format!("at {}: {e}", s.error_position.unwrap_or(0)))
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{name:<28} {position:>10} {head:>10} {:>8}  {state:<8} {parked:>6} {waiting:>7} {retrying:>8}  {last_batch:<27} {error}\n",
            head.saturating_sub(position)
        ));
    }
    print(&out)
}

pub(crate) fn integrations_table(
    statuses: &[adapters::outbound::status::DestinationStatus],
) -> String {
    let mut out = format!(
        "{:<8} {:<10} {:>10} {:>8} {:>9}  {:<9} {:>7} {:>6} {:>7}  attempts (last hour)\n",
        "name",
        "configured",
        "position",
        "lag",
        "lag (s)",
        "circuit",
        "failing",
        "parked",
        "waiting"
    );
    for status in statuses {
        let circuit = status
            .circuit
            .as_ref()
            .map_or("closed", |c| c.state.as_str());
        let attempts = status
            .attempts_last_hour
            .iter()
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "{:<8} {:<10} {:>10} {:>8} {:>9.1}  {circuit:<9} {:>7} {:>6} {:>7}  {attempts}\n",
            status.destination,
            if status.configured { "yes" } else { "no" },
            status.position,
            status.lag_events,
            status.lag_seconds,
            status.failing,
            status.parked,
            status.waiting,
        ));
        if let Some(pull) = &status.last_pull {
            out.push_str(&format!(
                "{:<8} last pull {}: {} listed, {} new, {} already known{}\n",
                "",
                pull.finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
                pull.fetched,
                pull.stored,
                pull.duplicates,
                pull.error
                    .as_deref()
                    .map(|e| format!("; stopped short: {e}"))
                    .unwrap_or_default(),
            ));
        }
    }
    out
}
