//! What the detail pages (an order's, a payment's, a shipment's) share: what a page says after
//! an action, and the timeline of the streams it shows.

use axum::extract::{rejection::QueryRejection, Query};
use eventlog::{RecordedEvent, StreamId};
use projections::ReadModel;
use serde::Deserialize;

use super::view::time;
use crate::{extract::MinPosition, AppState};

/// What a page says beyond its data: a fixed notice after an action, a message about the last
/// post, and what that post held (shown again in its form).
#[derive(Debug, Default)]
pub(super) struct Said {
    pub notice: Option<&'static str>,
    pub message: Option<String>,
    /// The form the message is about (`cancel`), whose fields show what was typed.
    pub form: &'static str,
    /// The reason, carrier, reference or tracking number typed.
    pub typed: String,
    /// The amount typed.
    pub amount: Option<String>,
}

/// The page's query: which action just succeeded, and the log position it wrote.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Shown {
    done: Option<String>,
    min_position: Option<String>,
}

impl Shown {
    /// The fixed text of the action named `done` (never the query's own text), once `model`
    /// shows its write (or a word that it does not yet).
    pub(super) async fn said(
        query: Result<Query<Self>, QueryRejection>,
        state: &AppState,
        model: ReadModel,
        notices: &[(&str, &'static str)],
    ) -> Said {
        let shown = query.map(|Query(q)| q).unwrap_or_default();
        let mut notice = shown.done.as_deref().and_then(|done| {
            notices
                .iter()
                .find(|(name, _)| *name == done)
                .map(|(_, text)| *text)
        });
        if let Some(position) = shown.min_position.and_then(|p| p.parse::<i64>().ok()) {
            if MinPosition(Some(position))
                .wait(state, model.name())
                .await
                .is_err()
            {
                notice = Some("Done, but this page does not show it yet: reload it in a moment.");
            }
        }
        Said {
            notice,
            ..Said::default()
        }
    }
}

/// One event of a timeline.
pub(super) struct Happening {
    pub at: String,
    /// `order`, `payment`, `shipment`.
    pub stream_type: String,
    /// Its console page, if it has one.
    pub link: Option<String>,
    pub event_type: String,
    /// Who caused it: `user:ana`, `integration:stripe`, `process:…`.
    pub actor: String,
    /// Through what: `api`, `console`, `webhook:stripe`, `process:…`.
    pub source: String,
}

/// The events of `streams` in the order the log recorded them, read as the audit trail's
/// `GET /api/v1/audit/streams/{type}/{id}` reads each.
pub(super) async fn timeline_of(
    state: &AppState,
    streams: &[StreamId],
) -> Result<Vec<Happening>, eventlog::StorageError> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    for stream in streams {
        events.extend(state.log.read_stream(stream, 1).await?);
    }
    events.sort_by_key(|e| e.position);
    Ok(events
        .into_iter()
        .map(|event| {
            let stream_type = event.stream.aggregate_type;
            let stream_id = event.stream.aggregate_id;
            let link = match stream_type.as_str() {
                "order" => Some(format!("/console/orders/{stream_id}")),
                "payment" => Some(format!("/console/payments/{stream_id}")),
                "shipment" => Some(format!("/console/shipments/{stream_id}")),
                _ => None,
            };
            Happening {
                at: time(&event.recorded_at),
                link,
                stream_type,
                event_type: event.event_type,
                actor: event.metadata.actor.unwrap_or_else(|| "—".to_owned()),
                source: event.metadata.source.unwrap_or_else(|| "—".to_owned()),
            }
        })
        .collect())
}
