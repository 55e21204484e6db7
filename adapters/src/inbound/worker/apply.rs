//! Applies a delivery's commands to one aggregate and marks the delivery done, in one
//! transaction: the append (its first write, as ADR 0001 requires) and the inbox row commit
//! together or not at all.
//!
//! A delivery may hold several commands (each refund of a charge, each scan of a tracker); they
//! are decided one after the other on the evolving state and appended as one append under the
//! idempotency key `source:event_id`, with what they bind on the aggregate's order (a carrier's
//! scan that implies a dispatch: ADR 0009) in the same commit.

use chrono::Utc;
use commands::CommandError;
use domain::{BoundToOrder, CommandName as _, Context, EventCodec};
use eventlog::{Append, AppendError, ExpectedVersion, Metadata, StreamId};

use super::{Outcome, Worker, WorkerError};
use crate::inbound::inbox::{Claimed, DeliveryStatus, Finish};

/// How often a delivery is decided again after losing a race for its stream.
const MAX_RACES: usize = 5;

/// What the commands of a delivery are, given the aggregate's current state.
pub(crate) enum Commands<C> {
    /// The aggregate does not exist (yet): the delivery is unmatched.
    NoSuchEntity,
    /// These commands, in order (none: nothing new to record).
    Run(Vec<C>),
    /// The delivery carries a value no command can take.
    Unusable(String),
}

impl Worker {
    /// Decides `commands` against aggregate `D` `id` and, in one transaction, appends the
    /// events under the delivery's key and marks it done.
    pub(crate) async fn apply<D>(
        &self,
        claimed: &Claimed,
        id: &str,
        commands: impl Fn(&D::State) -> Commands<D::Command>,
    ) -> Result<Outcome, WorkerError>
    where
        D: BoundToOrder,
        D::Event: EventCodec,
        D::Error: std::error::Error,
    {
        let stream = StreamId::new(<D::Event as EventCodec>::AGGREGATE_TYPE, id);
        let key = claimed.idempotency_key();
        let metadata = Metadata {
            actor: Some(format!("webhook:{}", claimed.source)),
            correlation_id: Some(key.clone()),
            causation_id: Some(key.clone()),
            source: Some(format!("webhook:{}", claimed.source)),
            idempotency_key: Some(key.clone()),
            request_id: None,
            traceparent: None,
        };
        let aggregate = <D::Event as EventCodec>::AGGREGATE_TYPE;
        let count = |names: &[&'static str], outcome| {
            for name in names {
                commands::count_command(aggregate, name, outcome);
            }
        };
        let mut names = Vec::new();
        for _ in 0..MAX_RACES {
            let (mut state, version) = self.handler.load::<D>(id).await.map_err(load_error)?;
            let commands = match commands(&state) {
                Commands::NoSuchEntity => {
                    return Ok(Outcome::Unmatched(format!("no {stream} exists yet")))
                }
                Commands::Unusable(why) => return Ok(Outcome::Failed(why)),
                Commands::Run(commands) => commands,
            };
            let ctx = Context::new(Utc::now(), uuid::Uuid::now_v7);
            let mut events = Vec::new();
            names.clear();
            for command in commands {
                names.push(command.command_name());
                match D::decide(&state, command, &ctx) {
                    Ok(decided) => {
                        for event in &decided {
                            D::evolve(&mut state, event);
                        }
                        events.extend(decided);
                    }
                    Err(refused) => {
                        count(&names, "refused");
                        return Ok(Outcome::Failed(format!("{stream} refused: {refused}")));
                    }
                }
            }
            let bound = match self
                .handler
                .order_append::<D>(&state, &events, &metadata)
                .await
            {
                Ok(bound) => bound,
                Err(CommandError::RefusedBy { stream, refusal }) => {
                    count(&names, "refused");
                    return Ok(Outcome::Failed(format!("{stream} refused: {refusal}")));
                }
                Err(error) => return Err(load_error(error)),
            };
            let log = self.inbox.log();
            let mut tx = log.begin().await?;
            if !events.is_empty() {
                let new_events = commands::new_events(&events, &metadata);
                let append = Append::new(stream.clone(), ExpectedVersion::at(version), new_events)
                    .idempotent(&key);
                let appends: Vec<Append> = std::iter::once(append).chain(bound).collect();
                match log.append_all_in(&mut tx, &appends).await {
                    Ok(_) => {}
                    Err(AppendError::WrongExpectedVersion { .. }) => {
                        tx.rollback().await?;
                        continue;
                    }
                    Err(error) => {
                        tx.rollback().await?;
                        return Err(error.into());
                    }
                }
            }
            let done = Finish {
                status: DeliveryStatus::Done,
                next_attempt_at: None,
                error: None,
            };
            if !self
                .inbox
                .finish_in(&mut tx, claimed, &done, Utc::now())
                .await?
            {
                tx.rollback().await?;
                return Ok(Outcome::LostClaim);
            }
            tx.commit().await?;
            log.wake_subscribers();
            count(&names, "ok");
            return Ok(Outcome::Done);
        }
        count(&names, "conflict");
        Err(WorkerError::Contended {
            stream,
            attempts: MAX_RACES,
        })
    }
}

fn load_error<E>(error: CommandError<E>) -> WorkerError {
    match error {
        CommandError::Storage(error) => WorkerError::Storage(error),
        CommandError::Corrupt {
            stream, sequence, ..
        } => WorkerError::Corrupt { stream, sequence },
        _ => WorkerError::Unexpected("loading a stream"),
    }
}
