//! Process managers: idempotent subscribers of the log that carry a workflow across
//! aggregates. Each command they send carries the key `process:{name}:{event id}:{n}`, so that
//! a rerun from any checkpoint, or a crash between a command and the checkpoint, changes
//! nothing twice. A command the domain refuses is logged and passed over: the refusal means a
//! fact already recorded makes it moot (a capture that beat a void is flagged as overpayment).

mod cancellation;
mod completion;
mod fulfillment;
mod payments;

use std::fmt::Display;

use domain::{
    order::OrderEvent, payment::PaymentEvent, shipment::ShipmentEvent, Decider, DecodeError,
    EventCodec,
};
use eventlog::{HandlerError, Metadata, RecordedEvent};

pub use cancellation::OrderCancellation;
pub use completion::OrderCompletion;
pub use fulfillment::OrderFulfillment;
pub use payments::OrderPayments;

use crate::{CommandError, CommandHandler, CommandMeta};

/// An event of any aggregate, decoded.
#[derive(Debug)]
pub(crate) enum AnyEvent {
    Order(OrderEvent),
    Payment(PaymentEvent),
    Shipment(ShipmentEvent),
    /// Of an aggregate no process manager follows.
    Other,
}

pub(crate) fn decode(event: &RecordedEvent) -> Result<AnyEvent, DecodeError> {
    let (kind, version, payload) = (&event.event_type, event.event_version, &event.payload);
    Ok(match event.stream.aggregate_type.as_str() {
        OrderEvent::AGGREGATE_TYPE => AnyEvent::Order(OrderEvent::decode(kind, version, payload)?),
        PaymentEvent::AGGREGATE_TYPE => {
            AnyEvent::Payment(PaymentEvent::decode(kind, version, payload)?)
        }
        ShipmentEvent::AGGREGATE_TYPE => {
            AnyEvent::Shipment(ShipmentEvent::decode(kind, version, payload)?)
        }
        _ => AnyEvent::Other,
    })
}

/// Sends the commands one event causes, numbered for their idempotency keys.
pub(crate) struct Step<'a> {
    handler: &'a CommandHandler,
    process: &'static str,
    cause: &'a RecordedEvent,
    sent: usize,
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
        }
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
    ) -> Result<(), HandlerError>
    where
        D: Decider,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: std::error::Error + Send + Sync + 'static,
    {
        self.send_at::<D>(id, command, None).await
    }

    /// Sends `command`, decided from the aggregate at stream version `version` (if given): if
    /// the aggregate has moved since, the step fails and its batch is handled again, from a
    /// fresh look, instead of the domain refusing a command sized for an older state.
    pub(crate) async fn send_at<D>(
        &mut self,
        id: impl Display,
        command: D::Command,
        version: Option<i64>,
    ) -> Result<(), HandlerError>
    where
        D: Decider,
        D::Command: Clone,
        D::Event: EventCodec,
        D::Error: std::error::Error + Send + Sync + 'static,
    {
        self.sent += 1;
        let source = self.process.to_owned();
        let meta = CommandMeta {
            metadata: Metadata {
                actor: Some(source.clone()),
                correlation_id: self
                    .cause
                    .metadata
                    .correlation_id
                    .clone()
                    .or_else(|| Some(self.cause.event_id.to_string())),
                causation_id: Some(self.cause.event_id.to_string()),
                source: Some(source.clone()),
                ..Metadata::default()
            },
            idempotency_key: Some(format!("{source}:{}:{}", self.cause.event_id, self.sent)),
            expected_version: version,
        };
        let id = id.to_string();
        match self.handler.execute::<D>(&id, command, &meta).await {
            Ok(_) => Ok(()),
            Err(CommandError::Rejected(refusal)) => {
                tracing::warn!(
                    process = self.process,
                    cause = %self.cause.event_id,
                    aggregate = <D::Event as EventCodec>::AGGREGATE_TYPE,
                    id = %id,
                    refusal = %refusal,
                    "a process step was refused by the domain and passed over"
                );
                Ok(())
            }
            Err(error) => Err(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use domain::{
        payment::{Payment, PaymentCommand},
        Code, Currency, ExternalRef, Money, PaymentId,
    };
    use eventlog::testing::TestDatabase;

    use super::Step;
    use crate::{CommandHandler, CommandMeta};

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }

    #[tokio::test]
    async fn a_step_decided_at_a_version_the_aggregate_has_left_fails_rather_than_passing_over() {
        let db = TestDatabase::sqlite();
        let log = db.log().await;
        let handler = CommandHandler::new(log.clone());
        let payment: PaymentId = uuid::Uuid::now_v7().to_string().parse().unwrap();
        let id = payment.to_string();
        let request = PaymentCommand::RequestPayment {
            payment_id: payment,
            order_id: uuid::Uuid::now_v7().to_string().parse().unwrap(),
            amount: eur(2500),
            provider: Code::parse("stripe").unwrap(),
        };
        handler
            .execute::<Payment>(&id, request, &CommandMeta::default())
            .await
            .unwrap();
        let (_, requested_at) = handler.load::<Payment>(&id).await.unwrap();
        let capture = PaymentCommand::CapturePayment {
            capture_id: ExternalRef::parse("ch_1").unwrap(),
            amount: eur(2500),
            provider_reference: None,
        };
        handler
            .execute::<Payment>(&id, capture, &CommandMeta::default())
            .await
            .unwrap();
        let cause = log.read_all(0, 1).await.unwrap().remove(0);
        let mut step = Step::new(&handler, "process:test", &cause);

        // A void decided while nothing was captured: the capture since makes it fail, where
        // without the version the domain's refusal would be passed over.
        let void = PaymentCommand::VoidPayment {
            reason: domain::NonEmptyText::parse("cancelled").unwrap(),
        };
        let stale = step
            .send_at::<Payment>(payment, void.clone(), Some(requested_at))
            .await;
        assert!(stale.is_err(), "{stale:?}");
        assert!(step.send::<Payment>(payment, void).await.is_ok());
        let (state, _) = handler.load::<Payment>(&id).await.unwrap();
        assert!(!state.unwrap().voided, "nothing voided after a capture");
    }
}
