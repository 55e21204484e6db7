//! Projection status (`integrations.view`): each projection and process manager's position,
//! the log's head, the lag, state, steps set aside and last error, as `backoffice projections
//! status` prints them; and, for admins (`admin`), a rebuild of a read model or of all of them
//! (`projections::rebuild`, as `backoffice projections rebuild` runs it), in a task of its own
//! so the request returns. This process remembers its last rebuilds to show them; one runs at a
//! time per database, and a second is refused.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, PoisonError},
};

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, rejection::QueryRejection, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Form, Router,
};
use chrono::{DateTime, Utc};
use projections::{ReadModel, RebuildError};
use serde::Deserialize;

use super::{
    page, session,
    session::{Session, Unavailable},
    view::{forbidden, time},
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The projections routes, with this router's memory of its rebuilds.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/projections", get(status))
        .route("/console/projections/rebuild", post(rebuild))
        .layer(Extension(Rebuilds::default()))
}

/// The rebuilds this process started from the console, newest first.
#[derive(Debug, Clone, Default)]
struct Rebuilds(Arc<Mutex<VecDeque<Run>>>);

/// How many finished rebuilds are remembered.
const REMEMBERED: usize = 10;

/// A rebuild started from the console.
#[derive(Debug, Clone)]
struct Run {
    models: String,
    by: String,
    started_at: DateTime<Utc>,
    /// When it ended, and the position its tables reflect or why it failed.
    ended: Option<(DateTime<Utc>, Result<i64, String>)>,
}

impl Rebuilds {
    fn runs(&self) -> std::sync::MutexGuard<'_, VecDeque<Run>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The running one, if any.
    fn running(&self) -> Option<Run> {
        self.runs().iter().find(|run| run.ended.is_none()).cloned()
    }

    /// Records `run` as started, unless one is running already (then that one).
    fn start(&self, run: Run) -> Result<(), Run> {
        let mut runs = self.runs();
        if let Some(running) = runs.iter().find(|run| run.ended.is_none()) {
            return Err(running.clone());
        }
        runs.push_front(run);
        runs.truncate(REMEMBERED);
        Ok(())
    }

    /// Records the end of the running rebuild.
    fn end(&self, outcome: Result<i64, String>) {
        if let Some(run) = self.runs().iter_mut().find(|run| run.ended.is_none()) {
            run.ended = Some((Utc::now(), outcome));
        }
    }
}

/// A subscriber as shown.
struct Row {
    name: String,
    position: i64,
    lag: i64,
    state: String,
    parked: i64,
    waiting: i64,
    retrying: i64,
    last_batch: String,
    last_error: String,
    /// Its read model, if it is one's projection (it can be rebuilt).
    model: Option<&'static str>,
}

/// A remembered rebuild as shown.
struct RunShown {
    models: String,
    by: String,
    started_at: String,
    state: &'static str,
    ended_at: String,
    outcome: String,
}

#[derive(Template)]
#[template(path = "console/projections.html")]
struct StatusPage<'a> {
    me: session::Me,
    head: i64,
    rows: Vec<Row>,
    runs: Vec<RunShown>,
    can_rebuild: bool,
    notice: Option<&'static str>,
    message: Option<&'a str>,
}

/// The page's query: what was just done.
#[derive(Debug, Default, Deserialize)]
struct StatusQuery {
    done: Option<String>,
}

async fn status(
    State(state): State<AppState>,
    Extension(rebuilds): Extension<Rebuilds>,
    session: Session,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Response {
    if !session.role.grants(Permission::IntegrationsView) {
        return forbidden(&session, Permission::IntegrationsView);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let notice = match query.done.as_deref() {
        Some("started") => Some(
            "The rebuild started: the live tables keep serving until the new ones are swapped in.",
        ),
        _ => None,
    };
    status_page(&state, &rebuilds, &session, StatusCode::OK, notice, None).await
}

async fn status_page(
    state: &AppState,
    rebuilds: &Rebuilds,
    session: &Session,
    status: StatusCode,
    notice: Option<&'static str>,
    message: Option<&str>,
) -> Response {
    let (Ok(head), Ok(known)) = (state.log.head().await, state.log.subscribers().await) else {
        return Unavailable.into_response();
    };
    // Those `serve` runs first, in their order, then others known (a rebuild's shadow).
    let served: Vec<&str> = crate::workers::subscriber_names().collect();
    let others = known
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| !served.contains(name));
    let rows = served
        .iter()
        .copied()
        .chain(others)
        .map(|name| {
            let status = known.iter().find(|s| s.name == name);
            let position = status.map_or(0, |s| s.position);
            let state = match status {
                None => "idle",
                Some(s) if s.state == "failed" => "failed",
                Some(s) if s.is_degraded() => "degraded",
                Some(s) => s.state.as_str(),
            };
            Row {
                name: name.to_owned(),
                position,
                lag: head.saturating_sub(position),
                state: state.to_owned(),
                parked: status.map_or(0, |s| s.parked),
                waiting: status.map_or(0, |s| s.waiting),
                retrying: status.map_or(0, |s| s.retrying),
                last_batch: status
                    .and_then(|s| s.last_batch_at)
                    .map_or_else(String::new, |at| time(&at)),
                last_error: status
                    .and_then(|s| {
                        let error = s.last_error.as_ref()?;
                        Some(format!("at {}: {error}", s.error_position.unwrap_or(0)))
                    })
                    .unwrap_or_default(),
                model: ReadModel::named(name).map(ReadModel::name),
            }
        })
        .collect();
    let runs = rebuilds
        .runs()
        .iter()
        .map(|run| {
            let (state, ended_at, outcome) = match &run.ended {
                None => ("running", String::new(), String::new()),
                Some((at, Ok(position))) => (
                    "finished",
                    time(at),
                    format!("swapped in at log position {position}"),
                ),
                Some((at, Err(why))) => ("failed", time(at), why.clone()),
            };
            RunShown {
                models: run.models.clone(),
                by: run.by.clone(),
                started_at: time(&run.started_at),
                state,
                ended_at,
                outcome,
            }
        })
        .collect();
    let page = StatusPage {
        me: session.me(),
        head,
        rows,
        runs,
        can_rebuild: session.role.grants(Permission::Admin),
        notice,
        message,
    };
    page::render(status, &page)
}

/// The rebuild form's fields: a read model's name, or `all`.
#[derive(Debug, Deserialize)]
struct RebuildFields {
    csrf: String,
    model: String,
}

/// The claim `projections::rebuild` holds while it runs, one per database.
const REBUILD_CLAIM: &str = "rebuild";

async fn rebuild(
    State(state): State<AppState>,
    Extension(rebuilds): Extension<Rebuilds>,
    session: Session,
    form: Result<Form<RebuildFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the projections page again.");
    };
    if !session.csrf_matches(&fields.csrf) {
        return page::forged("Open the projections page again.");
    }
    if !session.role.grants(Permission::Admin) {
        return forbidden(&session, Permission::Admin);
    }
    let refuse = |status, message: String| {
        let (state, rebuilds, session) = (&state, &rebuilds, &session);
        async move { status_page(state, rebuilds, session, status, None, Some(&message)).await }
    };
    let models = match fields.model.as_str() {
        "all" => ReadModel::ALL.to_vec(),
        name => match ReadModel::named(name) {
            Some(model) => vec![model],
            None => {
                let message = "Choose a read model from the list.".to_owned();
                return refuse(StatusCode::UNPROCESSABLE_ENTITY, message).await;
            }
        },
    };
    if let Some(running) = rebuilds.running() {
        return refuse(StatusCode::CONFLICT, already_running(&running)).await;
    }
    // Asked first so that a rebuild run elsewhere (the command line, another process) is
    // refused here, rather than only in the background task.
    match state.log.try_claim(REBUILD_CLAIM).await {
        Ok(Some(claim)) => claim.release().await,
        Ok(None) => {
            let message = "Another rebuild is running (from the command line or another \
                           process); wait for it to finish."
                .to_owned();
            return refuse(StatusCode::CONFLICT, message).await;
        }
        Err(_) => return Unavailable.into_response(),
    }
    let names: Vec<&str> = models.iter().map(|m| m.name()).collect();
    let run = Run {
        models: names.join(", "),
        by: session.actor(),
        started_at: Utc::now(),
        ended: None,
    };
    if let Err(running) = rebuilds.start(run) {
        return refuse(StatusCode::CONFLICT, already_running(&running)).await;
    }
    tracing::info!(models = ?names, by = %session.actor(), "a rebuild started from the console");
    let log = state.log.clone();
    let task = tokio::spawn(async move {
        projections::rebuild(&log, &models, &projections::rebuild_options()).await
    });
    // A second task records how the first ended, even if it panicked.
    tokio::spawn(async move {
        let outcome = match task.await {
            Ok(Ok(position)) => Ok(position),
            Ok(Err(RebuildError::AlreadyRunning)) => {
                Err("refused: another rebuild started first".to_owned())
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %eventlog::error_chain(&error), "a console rebuild failed");
                Err(eventlog::error_chain(&error))
            }
            Err(error) => Err(format!("the rebuild stopped: {error}")),
        };
        rebuilds.end(outcome);
    });
    Redirect::to("/console/projections?done=started").into_response()
}

fn already_running(run: &Run) -> String {
    format!(
        "A rebuild of {} started by {} at {} is running; wait for it to finish.",
        run.models,
        run.by,
        time(&run.started_at)
    )
}
