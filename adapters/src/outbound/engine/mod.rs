//! The engine every destination runs on: a [`Subscriber`] of the log per destination. For each
//! event it takes, it loads the facts, maps the message, and, if the circuit lets it and the
//! rate limit allows, sends it with a timeout, records the attempt and reads the outcome:
//!
//! - taken: the circuit closes, and what the answer says is recorded ([`Destination::follow_up`]);
//! - refused (a 4xx): the message is set aside, retried with backoff, parked after its attempts
//!   (an attention item); only the later messages of its lane wait behind it;
//! - failed (a 5xx, a timeout, no connection): the same, and it counts against the circuit; the
//!   failure that opens the circuit pauses the whole destination instead, and so does an open
//!   circuit: no call is made until one probe is due, and no message uses up an attempt;
//! - throttled (a 429): the destination pauses for the partner's `Retry-After`.
//!
//! A message for which a fact is missing (a customer's e-mail address) waits for it, as an
//! attention item. The checkpoint moves only after a message is taken or set aside, so a crash
//! sends the last ones again, with the same idempotency keys.

mod circuit;
mod records;
mod window;

use std::{sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use commands::CommandHandler;
use domain::{order::Order, payment::Payment, shipment::Shipment};
use eventlog::{HandlerError, RecordedEvent, Refusal, SetAside, StepError, Subscriber};
use tokio::time::Instant;
use tracing::Instrument as _;

pub use circuit::{Admission, Circuit, CircuitState};
pub(crate) use records::counts_since;
pub use records::{attempts, saved_circuit, Attempt, AttemptOutcome, SavedCircuit, ANSWER_EXCERPT};
use window::Window;

use super::{Answer, Destination, Facts, FollowUp, Limits, SendError, Unmappable};

/// A destination run as a subscriber of the log.
#[derive(Debug)]
pub struct Outbound<D> {
    name: String,
    handler: CommandHandler,
    destination: D,
    limits: Limits,
    circuit: Mutex<Circuit>,
    window: Option<Mutex<Window>>,
    /// Until when the partner asked us to wait (`Retry-After`).
    resume_at: Mutex<Option<DateTime<Utc>>>,
}

impl<D: Destination> Outbound<D> {
    /// `destination`, sending through `handler`'s log within `limits`.
    pub fn new(handler: CommandHandler, destination: D, limits: Limits) -> Self {
        let window = limits
            .requests_per_second
            .map(|limit| Mutex::new(Window::new(limit, Duration::from_secs(1))));
        Self {
            name: subscriber_name(D::NAME),
            circuit: Mutex::new(Circuit::new(limits.circuit_failures, limits.circuit_open())),
            handler,
            destination,
            limits,
            window,
            resume_at: Mutex::new(None),
        }
    }

    /// Until when the partner asked us to wait, if that is still ahead.
    fn asked_to_wait(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let resume_at = *self
            .resume_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        resume_at.filter(|at| *at > now)
    }

    /// The partner asked us to wait `asked` (capped), or a second if it did not say how long:
    /// the destination pauses until then. Answers when that is.
    fn wait_as_asked(&self, asked: Option<Duration>) -> DateTime<Utc> {
        let pause = asked
            .unwrap_or(Duration::from_secs(1))
            .min(self.limits.max_pause());
        let until = Utc::now() + chrono::Duration::from_std(pause).unwrap_or_default();
        *self
            .resume_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(until);
        until
    }

    /// The destination.
    pub fn destination(&self) -> &D {
        &self.destination
    }

    fn circuit(&self) -> std::sync::MutexGuard<'_, Circuit> {
        self.circuit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until the rate limit lets the next call go.
    async fn wait_for_window(&self) {
        let Some(window) = &self.window else { return };
        loop {
            let wait = window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .wait(Instant::now());
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn call_ended(&self) {
        if let Some(window) = &self.window {
            window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .ended(Instant::now());
        }
    }

    /// Saves the circuit for the status when `changed`; a failure to save is only logged (the
    /// circuit itself lives in this process).
    async fn save_circuit(&self, changed: bool) {
        if !changed {
            return;
        }
        let circuit = self.circuit().clone();
        if let Err(error) = records::save_circuit(self.handler.log(), D::NAME, &circuit).await {
            tracing::warn!(destination = D::NAME, error = %error, "cannot save the circuit");
        }
    }

    /// Sends `message` once: the attempt is recorded and the circuit told.
    async fn attempt(
        &self,
        event: &RecordedEvent,
        message: &D::Message,
    ) -> Result<Result<Answer, SendError>, StepError> {
        self.wait_for_window().await;
        let attempted_at = Utc::now();
        let started = Instant::now();
        // The call continues the trace of the event's step (its `traceparent` goes out with
        // it where the protocol has headers).
        let span = tracing::info_span!(
            "outbound_attempt",
            destination = D::NAME,
            event_id = %event.event_id,
            position = event.position,
            correlation_id = event.metadata.correlation_id.as_deref().unwrap_or_default(),
        );
        let sent = tokio::time::timeout(
            self.limits.timeout(),
            self.destination
                .send(message, event.event_id)
                .instrument(span),
        )
        .await
        .unwrap_or_else(|_| {
            Err(SendError::failed(
                None,
                format!("no answer within {} ms", self.limits.timeout_ms),
            ))
        });
        self.call_ended();
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (outcome, status, error, answer) = match &sent {
            Ok(answer) => (
                AttemptOutcome::Sent,
                answer.status,
                None,
                answer.body.clone(),
            ),
            Err(e @ SendError::Rejected { status, answer, .. }) => (
                AttemptOutcome::Rejected,
                *status,
                Some(e.describe()),
                answer.clone(),
            ),
            Err(e @ SendError::Failed { status, answer, .. }) => (
                AttemptOutcome::Failed,
                *status,
                Some(e.describe()),
                answer.clone(),
            ),
            Err(e @ SendError::Throttled { status, answer, .. }) => (
                AttemptOutcome::Throttled,
                *status,
                Some(e.describe()),
                answer.clone(),
            ),
        };
        metrics::counter!("backoffice_outbound_attempts_total", "destination" => D::NAME, "outcome" => outcome.as_str())
            .increment(1);
        metrics::histogram!("backoffice_outbound_request_duration_seconds", "destination" => D::NAME)
            .record(started.elapsed().as_secs_f64());
        let attempt = records::Attempt {
            destination: D::NAME.to_owned(),
            event_id: event.event_id,
            position: event.position,
            attempted_at,
            duration_ms,
            outcome,
            status,
            error,
            answer,
        };
        tracing::debug!(
            destination = D::NAME,
            position = event.position,
            ?outcome,
            duration_ms,
            "attempt"
        );
        records::record_attempt(self.handler.log(), &attempt)
            .await
            .map_err(StepError::failed)?;
        Ok(sent)
    }

    /// Records what the partner's answer says, if anything.
    async fn follow_up(&self, event: &RecordedEvent, answer: &Answer) -> Result<(), StepError> {
        let follow_up = match D::follow_up(event, answer) {
            Ok(Some(follow_up)) => follow_up,
            Ok(None) => return Ok(()),
            Err(why) => {
                return Err(StepError::Refused(vec![Refusal {
                    rule: "unusable_answer".to_owned(),
                    detail: why,
                    target: self.name.clone(),
                }]))
            }
        };
        self.record(event, follow_up).await
    }

    /// Records `follow_up` (because of `event`'s message) through the command handler; the
    /// domain's refusal is a refused step a person looks at.
    async fn record(&self, event: &RecordedEvent, follow_up: FollowUp) -> Result<(), StepError> {
        let meta = commands::attention::process_meta(&self.name, event);
        match follow_up {
            FollowUp::Order { order_id, command } => {
                let id = order_id.to_string();
                let outcome = self.handler.execute::<Order>(&id, command, &meta).await;
                refused_as_step(outcome, domain::order::AGGREGATE_TYPE, &id)
            }
            FollowUp::Payment {
                payment_id,
                command,
            } => {
                let id = payment_id.to_string();
                let outcome = self.handler.execute::<Payment>(&id, command, &meta).await;
                refused_as_step(outcome, domain::payment::AGGREGATE_TYPE, &id)
            }
            FollowUp::Shipment {
                shipment_id,
                command,
            } => {
                let id = shipment_id.to_string();
                let outcome = self.handler.execute::<Shipment>(&id, command, &meta).await;
                refused_as_step(outcome, domain::shipment::AGGREGATE_TYPE, &id)
            }
        }
    }
}

/// A follow-up's outcome as a step's: the domain's refusal (of `aggregate` `id`) is a refused
/// step, anything else that failed is a failure.
fn refused_as_step<T, E: domain::Rule + std::error::Error + Send + Sync + 'static>(
    outcome: Result<T, commands::CommandError<E>>,
    aggregate: &str,
    id: &str,
) -> Result<(), StepError> {
    match outcome {
        Ok(_) => Ok(()),
        Err(commands::CommandError::Rejected(rule)) => Err(StepError::Refused(vec![Refusal {
            rule: rule.rule().to_owned(),
            detail: rule.to_string(),
            target: format!("{aggregate}/{id}"),
        }])),
        Err(error) => Err(StepError::failed(error)),
    }
}

/// The subscriber name of destination `name`.
pub fn subscriber_name(name: &str) -> String {
    format!("outbound.{name}")
}

impl<D: Destination> Subscriber for Outbound<D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn lane(&self, event: &RecordedEvent) -> Option<String> {
        D::lane(event)
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), StepError> {
        if let Some(until) = self.asked_to_wait(Utc::now()) {
            return Err(StepError::Unavailable {
                until,
                why: format!("{}: asked to wait", D::NAME),
            });
        }
        let facts = Facts::load(&self.handler, event, D::NEEDS)
            .await
            .map_err(StepError::Failed)?;
        let message = match self.destination.message(event, &facts) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(()),
            Err(Unmappable::Missing(why)) => return Err(StepError::Waiting(why)),
            Err(Unmappable::Unreadable(why)) => return Err(StepError::failed(why)),
        };
        if let Admission::Wait(until) = self.circuit().admit(Utc::now()) {
            return Err(StepError::Unavailable {
                until,
                why: format!("{}: circuit open", D::NAME),
            });
        }
        match self.attempt(event, &message).await? {
            Ok(answer) => {
                let changed = self.circuit().succeeded();
                self.save_circuit(changed).await;
                self.follow_up(event, &answer).await
            }
            Err(SendError::Throttled { retry_after, .. }) => Err(StepError::Unavailable {
                until: self.wait_as_asked(retry_after),
                why: format!("{}: throttled", D::NAME),
            }),
            Err(rejected @ SendError::Rejected { .. }) => {
                // It answered: it is up.
                let changed = self.circuit().succeeded();
                self.save_circuit(changed).await;
                match D::refused(event, &rejected) {
                    // Refused for good: recorded, and shown to a person.
                    Some(follow_up) => {
                        self.record(event, follow_up).await?;
                        Err(StepError::Refused(vec![Refusal {
                            rule: "refused_by_partner".to_owned(),
                            detail: format!("{}: {}", D::NAME, rejected.describe()),
                            target: event.stream.to_string(),
                        }]))
                    }
                    None => Err(StepError::failed(rejected.describe())),
                }
            }
            Err(failed @ SendError::Failed { retry_after, .. }) => {
                let why = failed.describe();
                let opened = self.circuit().failed(Utc::now(), &why);
                self.save_circuit(true).await;
                // A partner that says when to come back (a 503 with `Retry-After`) is waited
                // for; the failure that opens the circuit (or a failed probe) pauses the
                // destination until its probe. Either way this message goes first after.
                let asked = retry_after.map(|asked| self.wait_as_asked(Some(asked)));
                match (opened, asked) {
                    (None, None) => Err(StepError::failed(why)),
                    (opened, asked) => Err(StepError::Unavailable {
                        until: opened.max(asked).unwrap_or_else(Utc::now),
                        why,
                    }),
                }
            }
        }
    }

    async fn set_aside(
        &self,
        event: &RecordedEvent,
        why: SetAside<'_>,
    ) -> Result<(), HandlerError> {
        commands::attention::raise(&self.handler, &self.name, event, why).await?;
        if let SetAside::Parked { .. } = why {
            metrics::counter!("backoffice_outbound_parked_total", "destination" => D::NAME)
                .increment(1);
        }
        Ok(())
    }

    async fn went_through(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        commands::attention::resolve(&self.handler, &self.name, event).await
    }
}
