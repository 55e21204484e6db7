//! The command handler: load a stream, fold it, decide, append at the version it was loaded at.
//! What the decision binds on the aggregate's order is decided there too and appended in the
//! same commit (ADR 0009). On a version conflict it loads and decides again, a bounded number
//! of times.

use chrono::Utc;
use domain::{
    order::{Order, OrderCommand, OrderState},
    BoundToOrder, CommandName as _, Context, Decider, EventCodec, OrderId,
};
use eventlog::{
    Append, AppendError, Appended, EventLog, ExpectedVersion, Metadata, NewEvent, RecordedEvent,
    StreamId,
};

use crate::{error::CommandError, states::States};

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
    /// The events it appended to that stream (for a replayed key, those the first run
    /// appended); empty when the command changed nothing.
    pub events: Vec<RecordedEvent>,
    /// The stream's version afterwards.
    pub stream_version: i64,
    /// The global position of its last event, on any stream it wrote: a reader waits for it to
    /// read its own write.
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

/// What a decision asks of its order: nothing, or this append at the order's version.
pub type OrderAppend = Option<Append>;

/// Runs commands against the log. Clones share what they keep of recent streams' states.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    log: EventLog,
    states: States,
}

impl CommandHandler {
    /// A handler over `log` that keeps the states of the
    /// [`DEFAULT_CAPACITY`](crate::states::DEFAULT_CAPACITY) streams it decided on last.
    pub fn new(log: EventLog) -> Self {
        Self::keeping(log, crate::states::DEFAULT_CAPACITY)
    }

    /// A handler over `log` that keeps the states of the `streams` streams it decided on last
    /// (none: every command reads its stream).
    pub fn keeping(log: EventLog, streams: usize) -> Self {
        Self {
            log,
            states: States::new(streams),
        }
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
        self.load_as_of::<D>(id, i64::MAX).await
    }

    /// The state of aggregate `D` with id `id` once its event `version` was recorded (the
    /// current state when it has fewer), and the version it folds: what a workflow reacting to
    /// an event saw then, however late it runs.
    pub async fn load_as_of<D>(
        &self,
        id: &str,
        version: i64,
    ) -> Result<(D::State, i64), CommandError<D::Error>>
    where
        D: Decider,
        D::Event: EventCodec,
    {
        let stream = StreamId::new(<D::Event as EventCodec>::AGGREGATE_TYPE, id);
        let history = self.log.read_stream(&stream, 1).await?;
        let mut state = D::State::default();
        let mut version_folded = 0;
        for recorded in history.into_iter().take_while(|r| r.sequence <= version) {
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
            version_folded = recorded.sequence;
        }
        Ok((state, version_folded))
    }

    /// What `events` of aggregate `D` (already folded into `state`) bind on its order: the
    /// order's decision on them, as an append at the order's current version, with `metadata`.
    /// The order's refusal is the command's ([`CommandError::RefusedBy`]).
    pub async fn order_append<D>(
        &self,
        state: &D::State,
        events: &[D::Event],
        metadata: &Metadata,
    ) -> Result<OrderAppend, CommandError<D::Error>>
    where
        D: BoundToOrder,
    {
        let Some((order_id, commands)) = D::order_commands(state, events) else {
            return Ok(None);
        };
        self.decide_on_order(order_id, commands, metadata)
            .await
            .map_err(|error| match error {
                CommandError::Rejected(refusal) => CommandError::RefusedBy {
                    stream: order_stream(order_id),
                    refusal,
                },
                CommandError::Storage(error) => CommandError::Storage(error),
                CommandError::Corrupt {
                    stream,
                    sequence,
                    source,
                } => CommandError::Corrupt {
                    stream,
                    sequence,
                    source,
                },
                other => CommandError::Invalid(unexpected(&other)),
            })
    }

    async fn decide_on_order(
        &self,
        order_id: OrderId,
        commands: Vec<OrderCommand>,
        metadata: &Metadata,
    ) -> Result<OrderAppend, CommandError<domain::order::OrderError>> {
        let (mut order, version) = self.load::<Order>(&order_id.to_string()).await?;
        let ctx = Context::new(Utc::now(), uuid::Uuid::now_v7);
        let dispatched_before = order.as_ref().is_some_and(OrderState::anything_dispatched);
        let mut events = Vec::new();
        for command in commands {
            let decided = Order::decide(&order, command, &ctx).map_err(CommandError::Rejected)?;
            for event in &decided {
                Order::evolve(&mut order, event);
            }
            events.extend(decided);
        }
        if let Some(order) = order
            .as_ref()
            .filter(|o| !dispatched_before && o.anything_dispatched())
        {
            // Recorded when decided: an append that then loses its race is decided again, and
            // counted again, a rare case a histogram of hours can bear.
            let waited = (ctx.now() - order.placed_at).num_milliseconds().max(0) as f64 / 1e3;
            metrics::histogram!("backoffice_order_dispatch_seconds").record(waited);
        }
        Ok((!events.is_empty()).then(|| {
            Append::new(
                order_stream(order_id),
                ExpectedVersion::at(version),
                new_events(&events, metadata),
            )
        }))
    }

    /// Decides `command` against aggregate `D` with id `id` and appends what it causes, with
    /// what it binds on the aggregate's order, in one commit.
    ///
    /// A refusal (the domain's, the order's, a stale version, a reused key) is the caller's
    /// answer, logged at INFO; only a failure (storage, a corrupt stream) is an ERROR.
    #[tracing::instrument(skip_all, fields(aggregate = <D::Event as EventCodec>::AGGREGATE_TYPE, command = command.command_name(), id = %id))]
    pub async fn execute<D>(
        &self,
        id: &str,
        command: D::Command,
        meta: &CommandMeta,
    ) -> Result<Executed, CommandError<D::Error>>
    where
        D: BoundToOrder,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: std::error::Error,
    {
        let (aggregate, name) = (
            <D::Event as EventCodec>::AGGREGATE_TYPE,
            command.command_name(),
        );
        let started = std::time::Instant::now();
        let outcome = self.decide_and_append::<D>(id, command, meta).await;
        match &outcome {
            Ok(_) => {}
            Err(
                refusal @ (CommandError::Rejected(_)
                | CommandError::RefusedBy { .. }
                | CommandError::VersionConflict { .. }
                | CommandError::KeyReused { .. }
                | CommandError::Contended { .. }),
            ) => tracing::info!(refusal = ?refusal, "command not applied"),
            Err(failure) => tracing::error!(error = ?failure, "command failed"),
        }
        metrics::histogram!("backoffice_command_duration_seconds", "aggregate" => aggregate)
            .record(started.elapsed().as_secs_f64());
        count_command(aggregate, name, outcome_of(&outcome));
        outcome
    }

    async fn decide_and_append<D>(
        &self,
        id: &str,
        command: D::Command,
        meta: &CommandMeta,
    ) -> Result<Executed, CommandError<D::Error>>
    where
        D: BoundToOrder,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: std::error::Error,
    {
        let stream = StreamId::new(<D::Event as EventCodec>::AGGREGATE_TYPE, id);
        // A repeated key needs no lookup up front: decided against the state its first run
        // left, a repeat decides nothing or is refused (then the key is looked up below), or
        // decides events whose append the log answers with the first result.
        let mut read_first = false;
        for _ in 0..MAX_ATTEMPTS {
            let ctx = Context::new(Utc::now(), uuid::Uuid::now_v7);
            let quick = (!read_first)
                .then(|| self.decide_unread::<D>(&stream, &command, &ctx, meta))
                .flatten();
            let (mut state, version, decided) = match quick {
                Some(quick) => quick,
                None => {
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
                    let decided = D::decide(&state, command.clone(), &ctx);
                    (state, version, decided)
                }
            };
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
            for event in &events {
                D::evolve(&mut state, event);
            }
            let bound = self.order_append::<D>(&state, &events, &metadata).await?;
            let mut append = Append::new(
                stream.clone(),
                ExpectedVersion::at(version),
                new_events(&events, &metadata),
            );
            append.idempotency_key = meta.idempotency_key.clone();
            let written = match bound {
                None => self.log.append(append).await.map(|one| vec![one]),
                Some(order) => {
                    self.states.forget(&order.stream);
                    self.log.append_all(&[append, order]).await
                }
            };
            match written {
                Ok(written) => {
                    let executed = executed(stream, version, written);
                    if executed.replayed {
                        self.states.forget(&executed.stream);
                    } else {
                        self.states
                            .put(&executed.stream, state, executed.stream_version);
                    }
                    return Ok(executed);
                }
                Err(AppendError::WrongExpectedVersion {
                    stream: stale,
                    actual,
                    ..
                }) => {
                    self.states.forget(&stale);
                    read_first = true;
                    if let (Some(expected), true) = (meta.expected_version, stale == stream) {
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

impl CommandHandler {
    /// `command` decided without reading its stream: against the state kept from this
    /// handler's last command on it, or, for a stream it has not seen, against the state before
    /// the first event (a command that creates its stream). Only a decision that appends
    /// something is taken: its append names the version it was decided at, so a stream that
    /// moved on (or exists after all) refuses it and the command is decided again on what the
    /// log holds. A refusal or a no-op is never answered from here: it is decided again on the
    /// log, where it may be otherwise.
    fn decide_unread<D>(
        &self,
        stream: &StreamId,
        command: &D::Command,
        ctx: &Context,
        meta: &CommandMeta,
    ) -> Option<Decision<D>>
    where
        D: Decider,
        D::Command: Clone,
    {
        let (state, version) = self
            .states
            .get::<D::State>(stream)
            .unwrap_or_else(|| (D::State::default(), 0));
        if meta
            .expected_version
            .is_some_and(|expected| expected != version)
        {
            return None;
        }
        match D::decide(&state, command.clone(), ctx) {
            Ok(events) if !events.is_empty() => Some((state, version, Ok(events))),
            _ => None,
        }
    }
}

/// A state, the version it was folded at, and what a command decided on it.
type Decision<D> = (
    <D as Decider>::State,
    i64,
    Result<Vec<<D as Decider>::Event>, <D as Decider>::Error>,
);

/// How a command ended, as metrics label it: `ok`, `refused` (the domain said no),
/// `conflict` (the stream moved on, a key was reused, a race was lost too often) or `error`.
pub fn outcome_of<T, E>(outcome: &Result<T, CommandError<E>>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(CommandError::Rejected(_) | CommandError::RefusedBy { .. }) => "refused",
        Err(
            CommandError::VersionConflict { .. }
            | CommandError::KeyReused { .. }
            | CommandError::Contended { .. },
        ) => "conflict",
        Err(_) => "error",
    }
}

/// Counts one command of `aggregate` called `command` that ended in `outcome`.
pub fn count_command(aggregate: &'static str, command: &'static str, outcome: &'static str) {
    metrics::counter!("backoffice_commands_total", "aggregate" => aggregate, "command" => command, "outcome" => outcome)
        .increment(1);
}

fn order_stream(order_id: OrderId) -> StreamId {
    StreamId::new(domain::order::AGGREGATE_TYPE, order_id.to_string())
}

fn unexpected<E>(error: &CommandError<E>) -> &'static str {
    match error {
        CommandError::KeyReused { .. } => "an order decision reused a key",
        CommandError::VersionConflict { .. } | CommandError::Contended { .. } => {
            "an order decision conflicted while deciding"
        }
        _ => "an order decision failed unexpectedly",
    }
}

/// The command's answer from what its appends wrote: the first is its own stream's.
fn executed(stream: StreamId, version: i64, written: Vec<Appended>) -> Executed {
    let position = written.iter().filter_map(Appended::last_position).max();
    let mut written = written.into_iter();
    let own = written.next();
    let replayed = own.as_ref().is_some_and(|own| own.replayed);
    let (stream_version, events) = match own {
        Some(own) => (own.stream_version().unwrap_or(version), own.events),
        None => (version, vec![]),
    };
    Executed {
        stream,
        events,
        stream_version,
        position,
        replayed,
    }
}

fn replayed<E>(stream: StreamId, first: Appended, key: &str) -> Result<Executed, CommandError<E>> {
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

/// Decided events as the log stores them, each with `metadata`; without a trace context of
/// its own, the current span's, so that what the events cause continues this trace.
pub fn new_events<E: EventCodec>(events: &[E], metadata: &Metadata) -> Vec<NewEvent> {
    let mut metadata = metadata.clone();
    if metadata.traceparent.is_none() {
        metadata.traceparent = eventlog::trace::current_traceparent();
    }
    events
        .iter()
        .map(|event| {
            let stored = event.encode();
            let personal = stored.personal.map(|personal| eventlog::privacy::Personal {
                subject: personal.subject,
                fields: personal
                    .fields
                    .iter()
                    .map(|&field| field.to_owned())
                    .collect(),
            });
            NewEvent::new(stored.event_type, stored.event_version, stored.payload)
                .with_metadata(metadata.clone())
                .with_personal(personal)
        })
        .collect()
}
