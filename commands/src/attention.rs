//! Attention items of the process managers and outbound destinations (ADR 0010): raised when a step is refused, parked or
//! waiting, resolved when it goes through; retried or dismissed by a person, each change an
//! event of the item's stream, and each decided in the transaction that moves the step.

use domain::{
    attention::{self, Attention, AttentionCommand, AttentionKind, AttentionRaised, Cause},
    AttentionId, Code, Decider as _, NonEmptyText, OrderId,
};
use eventlog::{
    Append, AppendError, ExpectedVersion, HandlerError, Metadata, RecordedEvent, SetAside, StreamId,
};

use crate::{process, CommandError, CommandHandler, CommandMeta};

/// The item about `process`'s step for `event`.
pub fn item_of(process: &str, event: &RecordedEvent) -> AttentionId {
    attention::item_id(process, event.event_id, event.recorded_at)
}

/// Raises (or raises again) the item about `process`'s step for `event`.
pub async fn raise(
    handler: &CommandHandler,
    process: &str,
    event: &RecordedEvent,
    why: SetAside<'_>,
) -> Result<(), HandlerError> {
    let (kind, rule, target, detail) = match why {
        SetAside::Refused(refusals) => {
            let first = refusals.first();
            let detail = refusals
                .iter()
                .map(|r| format!("{} refused: {}", r.target, r.detail))
                .collect::<Vec<_>>()
                .join("; ");
            (
                AttentionKind::RefusedStep,
                first.and_then(|r| Code::parse(&r.rule).ok()),
                first.map(|r| r.target.clone()),
                detail,
            )
        }
        SetAside::Waiting(why) => (AttentionKind::WaitingStep, None, None, why.to_owned()),
        SetAside::Parked { attempts, error } => (
            AttentionKind::ParkedStep,
            None,
            None,
            format!("failed {attempts} times; last: {error}"),
        ),
    };
    let id = item_of(process, event);
    let raised = AttentionRaised {
        attention_id: id,
        kind,
        process: process.to_owned(),
        cause: Cause {
            event_id: event.event_id,
            position: event.position,
            stream_type: event.stream.aggregate_type.clone(),
            stream_id: event.stream.aggregate_id.clone(),
            event_type: event.event_type.clone(),
        },
        target,
        rule,
        detail: NonEmptyText::fitted(&detail),
        order_id: order_of(event),
        correlation_id: Some(correlation_of(event)),
        raised_at: chrono::Utc::now(),
    };
    let command = AttentionCommand::Raise(Box::new(raised));
    handler
        .execute::<Attention>(&id.to_string(), command, &process_meta(process, event))
        .await?;
    Ok(())
}

/// Resolves the item about `process`'s step for `event`, if there is one.
pub async fn resolve(
    handler: &CommandHandler,
    process: &str,
    event: &RecordedEvent,
) -> Result<(), HandlerError> {
    let id = item_of(process, event).to_string();
    match handler
        .execute::<Attention>(
            &id,
            AttentionCommand::Resolve,
            &process_meta(process, event),
        )
        .await
    {
        Ok(_) | Err(CommandError::Rejected(domain::attention::AttentionError::NotRaised)) => Ok(()),
        Err(error) => Err(Box::new(error)),
    }
}

/// Why a person's retry or dismissal was not done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The domain refused it (no such item, already resolved, a retry under way, …).
    #[error(transparent)]
    Refused(#[from] CommandError<domain::attention::AttentionError>),
    /// The item names an event the log does not have, or a process this version does not run.
    #[error("the item's step cannot be found: {0}")]
    StepGone(String),
}

impl From<eventlog::StorageError> for ActionError {
    fn from(error: eventlog::StorageError) -> Self {
        Self::Refused(CommandError::Storage(error))
    }
}

/// The lane of a subscriber's step for an event, by subscriber name: what a person's retry
/// sets a step aside in (the process managers' [`process::lane_of`], and whatever else runs
/// steps, such as the outbound destinations, which this crate does not know).
pub type Lanes = fn(&str, &RecordedEvent) -> Option<String>;

/// A person asks for the step of item `id` to be tried once more: in one transaction, the
/// request is recorded on the item (with who asked, from `meta`) and the step is set due in
/// its lane, as `lanes` tells it.
pub async fn retry(
    handler: &CommandHandler,
    id: AttentionId,
    meta: &CommandMeta,
    lanes: Lanes,
) -> Result<crate::Executed, ActionError> {
    act(handler, id, AttentionCommand::RequestRetry, meta, lanes).await
}

/// A person decides the step of item `id` is not to be done: in one transaction, the
/// dismissal (with its reason and who) is recorded and the step is given up, so that the later
/// steps of its lane go on.
pub async fn dismiss(
    handler: &CommandHandler,
    id: AttentionId,
    reason: NonEmptyText,
    meta: &CommandMeta,
) -> Result<crate::Executed, ActionError> {
    act(
        handler,
        id,
        AttentionCommand::Dismiss { reason },
        meta,
        process::lane_of,
    )
    .await
}

async fn act(
    handler: &CommandHandler,
    id: AttentionId,
    command: AttentionCommand,
    meta: &CommandMeta,
    lanes: Lanes,
) -> Result<crate::Executed, ActionError> {
    let log = handler.log();
    let stream = StreamId::new(attention::AGGREGATE_TYPE, id.to_string());
    for _ in 0..5 {
        let (item, version) = handler.load::<Attention>(&id.to_string()).await?;
        if let Some(expected) = meta.expected_version.filter(|v| *v != version) {
            return Err(CommandError::VersionConflict {
                stream,
                expected,
                actual: version,
            }
            .into());
        }
        let ctx = domain::Context::new(chrono::Utc::now(), uuid::Uuid::now_v7);
        let events =
            Attention::decide(&item, command.clone(), &ctx).map_err(CommandError::Rejected)?;
        let Some(item) = item.filter(|_| !events.is_empty()) else {
            return Ok(crate::Executed {
                stream,
                events: vec![],
                stream_version: version,
                position: None,
                replayed: false,
            });
        };
        let cause = &item.raised.cause;
        let event = log
            .event_by_id(cause.event_id)
            .await?
            .ok_or_else(|| ActionError::StepGone(format!("no event {}", cause.event_id)))?;
        let metadata = Metadata {
            idempotency_key: meta.idempotency_key.clone(),
            ..meta.metadata.clone()
        };
        let mut append = Append::new(
            stream.clone(),
            ExpectedVersion::at(version),
            crate::new_events(&events, &metadata),
        );
        append.idempotency_key = meta.idempotency_key.clone();
        let mut tx = log.begin().await?;
        let written = match log.append_in(&mut tx, append).await {
            Ok(written) if written.replayed => {
                tx.rollback().await?;
                written
            }
            Ok(written) => {
                let process = &item.raised.process;
                match &command {
                    AttentionCommand::RequestRetry => {
                        let lane = lanes(process, &event).ok_or_else(|| {
                            ActionError::StepGone(format!("no process {process} takes this step"))
                        })?;
                        log.request_step_in(&mut tx, process, &event, &lane).await?;
                    }
                    _ => {
                        log.drop_step_in(&mut tx, process, event.position).await?;
                    }
                }
                tx.commit().await?;
                log.wake_subscribers();
                written
            }
            Err(AppendError::WrongExpectedVersion { .. }) => {
                tx.rollback().await?;
                continue;
            }
            Err(AppendError::Storage(error)) => return Err(error.into()),
            Err(AppendError::DuplicateKey { key, recorded_for }) => {
                return Err(CommandError::KeyReused { key, recorded_for }.into())
            }
            Err(AppendError::Invalid(reason)) => return Err(CommandError::Invalid(reason).into()),
        };
        return Ok(crate::Executed {
            stream,
            stream_version: written.stream_version().unwrap_or(version),
            position: written.last_position(),
            replayed: written.replayed,
            events: written.events,
        });
    }
    Err(CommandError::Contended {
        stream,
        attempts: 5,
    }
    .into())
}

/// The metadata of what a process does about its step for `event`.
pub fn process_meta(process: &str, event: &RecordedEvent) -> CommandMeta {
    CommandMeta {
        metadata: Metadata {
            actor: Some(process.to_owned()),
            correlation_id: Some(correlation_of(event)),
            causation_id: Some(event.event_id.to_string()),
            source: Some(process.to_owned()),
            ..Metadata::default()
        },
        idempotency_key: None,
        expected_version: None,
    }
}

/// The correlation id of what `event` belongs to: its own, or its id when it has none.
pub(crate) fn correlation_of(event: &RecordedEvent) -> String {
    event
        .metadata
        .correlation_id
        .clone()
        .unwrap_or_else(|| event.event_id.to_string())
}

/// The order `event` concerns: its own stream's, or the one its payload names.
pub fn order_of(event: &RecordedEvent) -> Option<OrderId> {
    if event.stream.aggregate_type == domain::order::AGGREGATE_TYPE {
        return event.stream.aggregate_id.parse().ok();
    }
    event.payload.get("order_id")?.as_str()?.parse().ok()
}
