//! Process managers: idempotent subscribers of the log that carry a workflow across
//! aggregates. Each command they send carries the key `process:{name}:{event id}:{n}`, so that
//! a rerun from any checkpoint, or a crash between a command and the checkpoint, changes
//! nothing twice.
//!
//! Nothing they cannot finish is only a log line (ADR 0010): a step the domain refuses is an
//! attention item with its rule, cause and correlation id; a step that fails is retried with
//! backoff and parked after its attempts, and one that needs an entity not there yet waits for
//! it, each an attention item too, holding back only the later steps for the same order.

mod cancellation;
mod completion;
mod fulfillment;
mod payments;
mod reconciliation;

use std::{fmt::Display, future::Future};

use domain::{
    order::OrderEvent, payment::PaymentEvent, shipment::ShipmentEvent, BoundToOrder, DecodeError,
    EventCodec, Rule,
};
use eventlog::{
    HandlerError, RecordedEvent, Refusal, SetAside, StepError, Subscriber, SubscriptionOptions,
};
use tokio::task::JoinSet;

pub use cancellation::OrderCancellation;
pub use completion::OrderCompletion;
pub use fulfillment::OrderFulfillment;
pub use payments::OrderPayments;
pub use reconciliation::PaymentReconciliation;

use crate::{attention, CommandError, CommandHandler, CommandMeta};

/// One workflow: the events it takes a step for, and the step.
pub trait Workflow: Send + Sync + 'static {
    /// Its subscriber name, and the actor and source of the commands it sends.
    const NAME: &'static str;
    /// The event types it takes a step for.
    const EVENT_TYPES: &'static [&'static str];

    /// Takes the step for `event`, sending its commands through `step`.
    fn step(
        &self,
        step: &mut Step<'_>,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), StepError>> + Send;
}

/// Declares every process manager `serve` runs, once: its name for the status, its task for
/// `serve`, its lanes for a person's retry. Adding one is its module and one line here.
macro_rules! process_managers {
    ($($workflow:ident),* $(,)?) => {
        /// The names of every process manager `serve` runs.
        pub const NAMES: [&str; [$($workflow::NAME),*].len()] = [$($workflow::NAME),*];

        /// Runs every process manager in `workers`, each under its claim, sending its
        /// commands through `handler` (and so sharing the states it keeps).
        pub fn spawn_all(
            handler: &CommandHandler,
            options: &SubscriptionOptions,
            workers: &mut JoinSet<()>,
        ) {
            $(spawn(options, workers, $workflow, handler);)*
        }

        /// The lane process `name` takes `event`'s step in, if it takes one.
        pub fn lane_of(name: &str, event: &RecordedEvent) -> Option<String> {
            $(if name == $workflow::NAME {
                return lane::<$workflow>(event);
            })*
            None
        }
    };
}

process_managers!(
    OrderPayments,
    OrderCancellation,
    OrderFulfillment,
    OrderCompletion,
    PaymentReconciliation,
);

fn spawn<W: Workflow>(
    options: &SubscriptionOptions,
    workers: &mut JoinSet<()>,
    workflow: W,
    handler: &CommandHandler,
) {
    let (log, options) = (handler.log().clone(), options.clone());
    let manager = ProcessManager::new(handler.clone(), workflow);
    workers.spawn(async move { log.run(&manager, &options).await });
}

/// A workflow's lane for `event`: the order it concerns (so that the steps for one order keep
/// their order, and one set aside holds back only that order's), else the event's own stream.
fn lane<W: Workflow>(event: &RecordedEvent) -> Option<String> {
    if !W::EVENT_TYPES.contains(&event.event_type.as_str()) {
        return None;
    }
    Some(match attention::order_of(event) {
        Some(order) => format!("order/{order}"),
        None => event.stream.to_string(),
    })
}

/// A workflow run as a subscriber of the log, telling a person (an attention item) what it
/// cannot finish.
#[derive(Debug, Clone)]
pub struct ProcessManager<W> {
    handler: CommandHandler,
    workflow: W,
}

impl<W: Workflow> ProcessManager<W> {
    /// `workflow` sending its commands through `handler`.
    pub fn new(handler: CommandHandler, workflow: W) -> Self {
        Self { handler, workflow }
    }
}

impl<W: Workflow> Subscriber for ProcessManager<W> {
    fn name(&self) -> &str {
        W::NAME
    }

    fn lane(&self, event: &RecordedEvent) -> Option<String> {
        lane::<W>(event)
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), StepError> {
        let mut step = Step::new(&self.handler, W::NAME, event);
        self.workflow.step(&mut step, event).await?;
        step.finish()
    }

    async fn set_aside(
        &self,
        event: &RecordedEvent,
        why: SetAside<'_>,
    ) -> Result<(), HandlerError> {
        attention::raise(&self.handler, W::NAME, event, why).await
    }

    async fn went_through(&self, event: &RecordedEvent) -> Result<(), HandlerError> {
        attention::resolve(&self.handler, W::NAME, event).await
    }
}

/// An event of any aggregate, decoded.
#[derive(Debug)]
pub(crate) enum AnyEvent {
    Order(OrderEvent),
    Payment(PaymentEvent),
    Shipment(ShipmentEvent),
    /// Of an aggregate no process manager follows.
    Other,
}

pub(crate) fn decode(event: &RecordedEvent) -> Result<AnyEvent, StepError> {
    let (kind, version, payload) = (&event.event_type, event.event_version, &event.payload);
    let decoded: Result<AnyEvent, DecodeError> = match event.stream.aggregate_type.as_str() {
        OrderEvent::AGGREGATE_TYPE => {
            OrderEvent::decode(kind, version, payload).map(AnyEvent::Order)
        }
        PaymentEvent::AGGREGATE_TYPE => {
            PaymentEvent::decode(kind, version, payload).map(AnyEvent::Payment)
        }
        ShipmentEvent::AGGREGATE_TYPE => {
            ShipmentEvent::decode(kind, version, payload).map(AnyEvent::Shipment)
        }
        _ => Ok(AnyEvent::Other),
    };
    decoded.map_err(StepError::failed)
}

/// Sends the commands one event causes, numbered for their idempotency keys, and gathers the
/// refusals.
#[derive(Debug)]
pub struct Step<'a> {
    handler: &'a CommandHandler,
    process: &'static str,
    cause: &'a RecordedEvent,
    sent: usize,
    refusals: Vec<Refusal>,
}

impl<'a> Step<'a> {
    pub(crate) fn new(
        handler: &'a CommandHandler,
        process: &'static str,
        cause: &'a RecordedEvent,
    ) -> Self {
        Self {
            handler,
            process,
            cause,
            sent: 0,
            refusals: Vec::new(),
        }
    }

    /// The handler the commands go through (for the lookups a step needs).
    pub(crate) fn handler(&self) -> &CommandHandler {
        self.handler
    }

    /// Counts a step that sends nothing this time, so that the steps after it keep their
    /// numbers, and so their idempotency keys, when the event is handled again.
    pub(crate) fn pass(&mut self) {
        self.sent += 1;
    }

    /// Sends `command` to aggregate `D` with id `id`.
    pub(crate) async fn send<D>(
        &mut self,
        id: impl Display,
        command: D::Command,
    ) -> Result<(), StepError>
    where
        D: BoundToOrder,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: Rule,
    {
        self.send_at::<D>(id, command, None).await
    }

    /// Sends `command`, decided from the aggregate at stream version `version` (if given): if
    /// the aggregate has moved since, the step fails and is taken again, from a fresh look,
    /// instead of the domain refusing a command sized for an older state.
    ///
    /// A refusal is gathered (the event's other commands still go); a refusal because the
    /// aggregate does not exist yet makes the step wait for it.
    pub(crate) async fn send_at<D>(
        &mut self,
        id: impl Display,
        command: D::Command,
        version: Option<i64>,
    ) -> Result<(), StepError>
    where
        D: BoundToOrder,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: Rule,
    {
        self.sent += 1;
        let mut meta: CommandMeta = attention::process_meta(self.process, self.cause);
        meta.idempotency_key = Some(format!(
            "{}:{}:{}",
            self.process, self.cause.event_id, self.sent
        ));
        meta.expected_version = version;
        let id = id.to_string();
        let target = format!("{}/{id}", <D::Event as EventCodec>::AGGREGATE_TYPE);
        match self.handler.execute::<D>(&id, command, &meta).await {
            Ok(_) => Ok(()),
            Err(CommandError::Rejected(refusal)) => self.refused(&refusal, target),
            Err(CommandError::RefusedBy { stream, refusal }) => {
                self.refused(&refusal, stream.to_string())
            }
            Err(error) => Err(StepError::failed(error)),
        }
    }

    fn refused(&mut self, refusal: &impl Rule, target: String) -> Result<(), StepError> {
        if refusal.is_missing() {
            return Err(StepError::Waiting(format!("{target} does not exist yet")));
        }
        tracing::info!(
            process = self.process,
            cause = %self.cause.event_id,
            target = %target,
            rule = refusal.rule(),
            "a process step was refused by the domain; an attention item is raised"
        );
        self.refusals.push(Refusal {
            rule: refusal.rule().to_owned(),
            detail: refusal.to_string(),
            target,
        });
        Ok(())
    }

    /// The step's outcome: done, or refused in part.
    pub(crate) fn finish(self) -> Result<(), StepError> {
        if self.refusals.is_empty() {
            Ok(())
        } else {
            Err(StepError::Refused(self.refusals))
        }
    }
}
