//! The audit search (`audit.view`): events of the whole log by actor, stream, event type, time
//! and correlation id, through the same query as `GET /api/v1/audit/events`; or one stream's
//! whole history (`GET /api/v1/audit/streams/{type}/{id}`), such as a user's (`user/{id}`),
//! which answers who changed its role and when.

use askama::Template;
use axum::{
    extract::{rejection::QueryRejection, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use eventlog::{AuditFilter, RecordedEvent, StreamId};
use serde::Deserialize;

use super::{
    page, session,
    session::{Session, Unavailable},
    view::{forbidden, given, query_string, time},
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The audit route.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/console/audit", get(search))
}

/// The search form's fields, as the GET form sends them.
#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    actor: Option<String>,
    stream: Option<String>,
    event_type: Option<String>,
    correlation_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    after: Option<String>,
}

/// What was searched for, trimmed; each empty field is none.
#[derive(Debug, Default)]
struct Criteria {
    actor: Option<String>,
    stream: Option<String>,
    event_type: Option<String>,
    correlation_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl Criteria {
    fn any(&self) -> bool {
        [
            &self.actor,
            &self.stream,
            &self.event_type,
            &self.correlation_id,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|field| field.is_some())
    }

    /// This search's query string, with `after` for a later page.
    fn link(&self, after: Option<i64>) -> String {
        let after = after.map(|a| a.to_string());
        format!(
            "/console/audit{}",
            query_string(&[
                ("actor", self.actor.as_deref()),
                ("stream", self.stream.as_deref()),
                ("event_type", self.event_type.as_deref()),
                ("correlation_id", self.correlation_id.as_deref()),
                ("from", self.from.as_deref()),
                ("to", self.to.as_deref()),
                ("after", after.as_deref()),
            ])
        )
    }
}

/// An event as the results show it.
struct Row {
    recorded_at: String,
    position: i64,
    stream: String,
    stream_link: String,
    version: i64,
    event_type: String,
    actor: String,
    source: String,
    correlation_id: String,
    correlation_link: Option<String>,
    payload: String,
}

impl From<RecordedEvent> for Row {
    fn from(event: RecordedEvent) -> Self {
        let stream = event.stream.to_string();
        let correlation_id = event.metadata.correlation_id.unwrap_or_default();
        Self {
            recorded_at: time(&event.recorded_at),
            position: event.position,
            stream_link: format!(
                "/console/audit{}",
                query_string(&[("stream", Some(&stream))])
            ),
            stream,
            version: event.sequence,
            event_type: event.event_type,
            actor: event.metadata.actor.unwrap_or_default(),
            source: event.metadata.source.unwrap_or_default(),
            correlation_link: (!correlation_id.is_empty()).then(|| {
                format!(
                    "/console/audit{}",
                    query_string(&[("correlation_id", Some(&correlation_id))])
                )
            }),
            correlation_id,
            payload: serde_json::to_string_pretty(&event.payload).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct SearchPage<'a> {
    me: session::Me,
    criteria: &'a Criteria,
    searched: bool,
    history_of: Option<String>,
    rows: Vec<Row>,
    next: Option<String>,
    message: Option<&'a str>,
}

/// Events per page of a search (as the API's default).
const PAGE_SIZE: i64 = 100;
/// The most events of one stream's history shown.
const HISTORY_LIMIT: usize = 1000;

async fn search(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Response {
    if !session.role.grants(Permission::AuditView) {
        return forbidden(&session, Permission::AuditView);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let criteria = Criteria {
        actor: given(query.actor),
        stream: given(query.stream),
        event_type: given(query.event_type),
        correlation_id: given(query.correlation_id),
        from: given(query.from),
        to: given(query.to),
    };
    let mut page = SearchPage {
        me: session.me(),
        criteria: &criteria,
        searched: criteria.any(),
        history_of: None,
        rows: Vec::new(),
        next: None,
        message: None,
    };
    let refuse = |mut page: SearchPage<'_>, message| {
        page.searched = false;
        page.message = Some(message);
        page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let (Ok(from), Ok(to)) = (
        time_given(criteria.from.as_deref()),
        time_given(criteria.to.as_deref()),
    ) else {
        return refuse(
            page,
            "Give times as 2025-07-01T09:30 (UTC), 2025-07-01, or RFC 3339.",
        );
    };
    let after = match given(query.after).map(|a| a.parse::<i64>()) {
        None => 0,
        Some(Ok(after)) if after >= 0 => after,
        Some(_) => return refuse(page, "A page starts after a log position: 0 or more."),
    };
    if !page.searched {
        return page::render(StatusCode::OK, &page);
    }
    let matches = |event: &RecordedEvent| {
        let same = |wanted: &Option<String>, actual: Option<&str>| {
            wanted.as_deref().is_none_or(|w| Some(w) == actual)
        };
        same(&criteria.actor, event.metadata.actor.as_deref())
            && same(&criteria.event_type, Some(&event.event_type))
            && same(
                &criteria.correlation_id,
                event.metadata.correlation_id.as_deref(),
            )
            && from.is_none_or(|from| event.recorded_at >= from)
            && to.is_none_or(|to| event.recorded_at < to)
    };
    match criteria.stream.as_deref().and_then(|s| s.split_once('/')) {
        // One stream: its whole history (as `GET /api/v1/audit/streams/{type}/{id}`), narrowed
        // by the other criteria.
        Some((stream_type, stream_id)) => {
            let stream = StreamId::new(stream_type, stream_id);
            let Ok(events) = state.log.read_stream(&stream, 1).await else {
                return Unavailable.into_response();
            };
            page.history_of = Some(stream.to_string());
            page.rows = events
                .into_iter()
                .filter(|event| matches(event))
                .take(HISTORY_LIMIT)
                .map(Row::from)
                .collect();
        }
        None => {
            let filter = AuditFilter {
                actor: criteria.actor.clone(),
                stream_type: criteria.stream.clone(),
                event_type: criteria.event_type.clone(),
                correlation_id: criteria.correlation_id.clone(),
                from,
                to,
            };
            let Ok(events) = state.log.audit(&filter, after, PAGE_SIZE).await else {
                return Unavailable.into_response();
            };
            if i64::try_from(events.len()).unwrap_or(i64::MAX) == PAGE_SIZE {
                page.next = events.last().map(|e| criteria.link(Some(e.position)));
            }
            page.rows = events.into_iter().map(Row::from).collect();
        }
    }
    page::render(StatusCode::OK, &page)
}

/// A time from the form: RFC 3339, a `datetime-local` value (`2025-07-01T09:30`, UTC) or a
/// day (its start, UTC); none if not given, an error if not a time.
fn time_given(text: Option<&str>) -> Result<Option<DateTime<Utc>>, ()> {
    let Some(text) = text else {
        return Ok(None);
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(at.and_utc()));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| Some(at.and_utc()))
        .ok_or(())
}
