//! The command handler: load a stream, fold it, decide, append at the version it was loaded at.
//! On a version conflict it loads and decides again, a bounded number of times.

use chrono::Utc;
use domain::{Context, Decider, EventCodec};
use eventlog::{
    Append, AppendError, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamId,
};

use crate::error::CommandError;

/// How often a command is decided again after losing a race for its stream.
const MAX_ATTEMPTS: usize = 5;

/// Who sends a command and why: copied into the metadata of every event it causes.
#[derive(Debug, Clone, Default)]
pub struct CommandMeta {
    /// The event metadata (actor, correlation, causation, source, request id).
    pub metadata: Metadata,
    /// Makes the command idempotent: a key already recorded answers the first result.
    pub idempotency_key: Option<String>,
    /// The stream version the sender saw (an HTTP `If-Match`): the command is refused with
    /// [`CommandError::VersionConflict`] if the stream has moved on, instead of being decided
    /// again against the newer state.
    pub expected_version: Option<i64>,
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// The stream the command addressed.
    pub stream: StreamId,
    /// The events it appended (for a replayed key, those the first run appended); empty when
    /// the command changed nothing.
    pub events: Vec<RecordedEvent>,
    /// The stream's version afterwards.
    pub stream_version: i64,
    /// The global position of its last event: a reader waits for it to read its own write.
    pub position: Option<i64>,
    /// True when the idempotency key was recorded before and nothing new was written.
    pub replayed: bool,
}

impl Executed {
    /// Whether the command appended anything (now or when first run).
    pub fn changed(&self) -> bool {
        !self.events.is_empty()
    }
}

/// Runs commands against the log.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    log: EventLog,
}

impl CommandHandler {
    /// A handler over `log`.
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }

    /// The log it writes to.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The current state of aggregate `D` with id `id`, and its version (0: no stream).
    pub async fn load<D>(&self, id: &str) -> Result<(D::State, i64), CommandError<D::Error>>
    where
        D: Decider,
        D::Event: EventCodec,
    {
        let stream = StreamId::new(<D::Event as EventCodec>::AGGREGATE_TYPE, id);
        let history = self.log.read_stream(&stream, 1).await?;
        let mut state = D::State::default();
        let mut version = 0;
        for recorded in history {
            let event = <D::Event as EventCodec>::decode(
                &recorded.event_type,
                recorded.event_version,
                &recorded.payload,
            )
            .map_err(|source| CommandError::Corrupt {
                stream: stream.clone(),
                sequence: recorded.sequence,
                source,
            })?;
            D::evolve(&mut state, &event);
            version = recorded.sequence;
        }
        Ok((state, version))
    }

    /// Decides `command` against aggregate `D` with id `id` and appends what it causes.
    ///
    /// A refusal (the domain's, a stale version, a reused key) is the caller's answer, logged
    /// at INFO; only a failure (storage, a corrupt stream) is an ERROR.
    #[tracing::instrument(skip_all, fields(aggregate = <D::Event as EventCodec>::AGGREGATE_TYPE, id = %id))]
    pub async fn execute<D>(
        &self,
        id: &str,
        command: D::Command,
        meta: &CommandMeta,
    ) -> Result<Executed, CommandError<D::Error>>
    where
        D: Decider,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: std::error::Error,
    {
        let outcome = self.decide_and_append::<D>(id, command, meta).await;
        match &outcome {
            Ok(_) => {}
            Err(
                refusal @ (CommandError::Rejected(_)
                | CommandError::VersionConflict { .. }
                | CommandError::KeyReused { .. }
                | CommandError::Contended { .. }),
            ) => tracing::info!(refusal = ?refusal, "command not applied"),
            Err(failure) => tracing::error!(error = ?failure, "command failed"),
        }
        outcome
    }

    async fn decide_and_append<D>(
        &self,
        id: &str,
        command: D::Command,
        meta: &CommandMeta,
    ) -> Result<Executed, CommandError<D::Error>>
    where
        D: Decider,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: std::error::Error,
    {
        let stream = StreamId::new(<D::Event as EventCodec>::AGGREGATE_TYPE, id);
        // A repeated key needs no lookup up front: decided against the state its first run
        // left, a repeat decides nothing or is refused (then the key is looked up below), or
        // decides events whose append the log answers with the first result.
        for _ in 0..MAX_ATTEMPTS {
            let (state, version) = self.load::<D>(id).await?;
            if let Some(expected) = meta.expected_version {
                if expected != version {
                    return Err(CommandError::VersionConflict {
                        stream,
                        expected,
                        actual: version,
                    });
                }
            }
            let ctx = Context::new(Utc::now(), uuid::Uuid::now_v7);
            let decided = D::decide(&state, command.clone(), &ctx);
            // With a key already recorded, the first run's result, not this refusal or no-op, is
            // the answer.
            if decided.as_ref().map_or(true, Vec::is_empty) {
                if let Some(key) = &meta.idempotency_key {
                    if let Some(first) = self.log.recorded(key).await? {
                        return replayed(stream, first, key);
                    }
                }
            }
            let events = decided.map_err(CommandError::Rejected)?;
            if events.is_empty() {
                return Ok(Executed {
                    stream,
                    events: vec![],
                    stream_version: version,
                    position: None,
                    replayed: false,
                });
            }
            let metadata = Metadata {
                idempotency_key: meta.idempotency_key.clone(),
                ..meta.metadata.clone()
            };
            let new_events = new_events(&events, &metadata);
            let mut append = Append::new(stream.clone(), ExpectedVersion::at(version), new_events);
            append.idempotency_key = meta.idempotency_key.clone();
            match self.log.append(append).await {
                Ok(appended) => {
                    return Ok(Executed {
                        stream,
                        stream_version: appended.stream_version().unwrap_or(version),
                        position: appended.last_position(),
                        replayed: appended.replayed,
                        events: appended.events,
                    })
                }
                Err(AppendError::WrongExpectedVersion { actual, .. }) => {
                    if let Some(expected) = meta.expected_version {
                        return Err(CommandError::VersionConflict {
                            stream,
                            expected,
                            actual: i64::try_from(actual).unwrap_or(i64::MAX),
                        });
                    }
                    continue;
                }
                Err(AppendError::DuplicateKey { key, recorded_for }) => {
                    return Err(CommandError::KeyReused { key, recorded_for })
                }
                Err(AppendError::Storage(error)) => return Err(error.into()),
                Err(AppendError::Invalid(reason)) => return Err(CommandError::Invalid(reason)),
            }
        }
        Err(CommandError::Contended {
            stream,
            attempts: MAX_ATTEMPTS,
        })
    }
}

fn replayed<E>(
    stream: StreamId,
    first: eventlog::Appended,
    key: &str,
) -> Result<Executed, CommandError<E>> {
    if first.stream != stream {
        return Err(CommandError::KeyReused {
            key: key.to_owned(),
            recorded_for: first.stream,
        });
    }
    Ok(Executed {
        stream,
        stream_version: first.stream_version().unwrap_or(0),
        position: first.last_position(),
        replayed: true,
        events: first.events,
    })
}

/// Decided events as the log stores them, each with `metadata`.
pub fn new_events<E: EventCodec>(events: &[E], metadata: &Metadata) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| {
            let stored = event.encode();
            NewEvent::new(stored.event_type, stored.event_version, stored.payload)
                .with_metadata(metadata.clone())
        })
        .collect()
}
