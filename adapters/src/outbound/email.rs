//! Customer e-mail over SMTP (`lettre`): the order confirmation, the shipment on its way (with
//! its tracking number), the delivery and the refund. Text and HTML bodies come from the
//! templates in `adapters/templates/email/` (askama, HTML escaped). The recipient is the
//! customer's address in the CRM's copy: without one, the message waits for it as an attention
//! item, it is not dropped. The `Message-ID` is `<event id@sender's domain>`, so that a message
//! sent again after a crash is recognisable as the same one.

use askama::Template;
use domain::{order::OrderEvent, payment::PaymentEvent, shipment::ShipmentEvent, OrderId};
use eventlog::RecordedEvent;
use lettre::{
    message::{Mailbox, MultiPart},
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor,
};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use uuid::Uuid;

use super::{
    config::EmailConfig, decode, order_lane, Answer, Destination, Facts, Limits, Needs, SendError,
    SetupError, Unmappable,
};

/// The SMTP server and the sender.
#[derive(Debug)]
pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// An e-mail, as the mapping makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailMessage {
    /// The recipient's name.
    pub to_name: String,
    /// The recipient's address.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// What an e-mail says, for the templates.
#[derive(Debug, Clone)]
struct Mail {
    shop: String,
    name: String,
    reference: String,
    subject: String,
    kind: MailKind,
}

#[derive(Debug, Clone)]
enum MailKind {
    Confirmation {
        lines: Vec<MailLine>,
        total: String,
        address: Vec<String>,
    },
    Dispatched {
        carrier: String,
        tracking_number: Option<String>,
    },
    Delivered,
    Refunded {
        amount: String,
    },
}

#[derive(Debug, Clone)]
struct MailLine {
    name: String,
    quantity: u32,
    price: String,
}

#[derive(Template)]
#[template(path = "email/body.txt")]
struct TextBody<'a> {
    mail: &'a Mail,
}

#[derive(Template)]
#[template(path = "email/body.html")]
struct HtmlBody<'a> {
    mail: &'a Mail,
}

const EVENT_TYPES: [&str; 4] = [
    "OrderPlaced",
    "ShipmentDispatched",
    "ShipmentDelivered",
    "PaymentRefunded",
];

impl Email {
    /// The `Message-ID` of the e-mail for event `key`.
    pub fn message_id(&self, key: Uuid) -> String {
        format!("<{key}@{}>", self.from.email.domain())
    }
}

impl Destination for Email {
    const NAME: &'static str = "email";
    const NEEDS: Needs = Needs {
        order: true,
        shipment: true,
        contact: true,
    };
    type Message = EmailMessage;
    type Config = EmailConfig;

    fn limits(config: &EmailConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &EmailConfig) -> Result<Self, SetupError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SetupError::new(Self::NAME, format!("from: {e}")))?;
        // The URL holds the password: its error is described without it.
        let transport =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(config.smtp_url.expose_secret())
                .map_err(|_| {
                    SetupError::new(
                        Self::NAME,
                        "smtp_url must be smtp://[user:password@]host[:port][?tls=required] \
                         or smtps://…",
                    )
                })?
                .timeout(Some(config.limits.timeout()))
                .build();
        Ok(Self { transport, from })
    }

    fn lane(event: &RecordedEvent) -> Option<String> {
        order_lane(event, &EVENT_TYPES)
    }

    fn message(
        &self,
        event: &RecordedEvent,
        facts: &Facts,
    ) -> Result<Option<EmailMessage>, Unmappable> {
        let kind = if let Some(OrderEvent::OrderPlaced(placed)) = decode::<OrderEvent>(event)? {
            let address = &placed.shipping_address;
            MailKind::Confirmation {
                lines: placed
                    .lines
                    .iter()
                    .map(|line| MailLine {
                        name: line.name.to_string(),
                        quantity: line.quantity.get(),
                        price: line.unit_price.shown(),
                    })
                    .collect(),
                total: placed.total.shown(),
                address: [
                    Some(address.recipient.to_string()),
                    Some(address.line1.to_string()),
                    address.line2.as_ref().map(ToString::to_string),
                    Some(match &address.postal_code {
                        Some(code) => format!("{code} {}", address.city),
                        None => address.city.to_string(),
                    }),
                    Some(address.country.to_string()),
                ]
                .into_iter()
                .flatten()
                .collect(),
            }
        } else if let Some(shipment_event) = decode::<ShipmentEvent>(event)? {
            match shipment_event {
                ShipmentEvent::ShipmentDispatched(_) => {
                    let shipment = facts
                        .shipment
                        .as_ref()
                        .ok_or_else(|| Unmappable::Unreadable(format!("no {}", event.stream)))?;
                    MailKind::Dispatched {
                        carrier: shipment.carrier.to_string(),
                        tracking_number: shipment.tracking_number.as_ref().map(|t| t.to_string()),
                    }
                }
                ShipmentEvent::ShipmentDelivered(_) => MailKind::Delivered,
                _ => return Ok(None),
            }
        } else if let Some(PaymentEvent::PaymentRefunded(refunded)) = decode::<PaymentEvent>(event)?
        {
            MailKind::Refunded {
                amount: refunded.amount.shown(),
            }
        } else {
            return Ok(None);
        };
        let order = facts
            .order
            .as_ref()
            .ok_or_else(|| Unmappable::Unreadable(format!("no order for {}", event.stream)))?;
        let contact = facts.contact.as_ref().ok_or_else(|| {
            Unmappable::Missing(format!(
                "no e-mail address for customer {}: the CRM has not sent their contact",
                order.customer_id
            ))
        })?;
        let reference = order
            .external_reference
            .as_ref()
            .map_or_else(|| short(order.order_id), ToString::to_string);
        let subject = match &kind {
            MailKind::Confirmation { .. } => format!("Your order {reference} is confirmed"),
            MailKind::Dispatched { .. } => format!("Your order {reference} is on its way"),
            MailKind::Delivered => format!("Your order {reference} was delivered"),
            MailKind::Refunded { .. } => format!("Your refund for order {reference}"),
        };
        let mail = Mail {
            shop: self
                .from
                .name
                .clone()
                .unwrap_or_else(|| self.from.email.domain().to_owned()),
            name: contact.name.clone(),
            reference,
            subject: subject.clone(),
            kind,
        };
        let render = |result: askama::Result<String>| {
            result.map_err(|e| Unmappable::Unreadable(format!("template: {e}")))
        };
        Ok(Some(EmailMessage {
            to_name: contact.name.clone(),
            to: contact.email.clone(),
            subject,
            text: render(TextBody { mail: &mail }.render())?,
            html: render(HtmlBody { mail: &mail }.render())?,
        }))
    }

    async fn send(&self, message: &EmailMessage, key: Uuid) -> Result<Answer, SendError> {
        let address = message
            .to
            .parse()
            .map_err(|e| SendError::rejected(None, format!("recipient {:?}: {e}", message.to)))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(Some(message.to_name.clone()), address))
            .subject(&message.subject)
            .message_id(Some(self.message_id(key)))
            .multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                message.html.clone(),
            ))
            .map_err(|e| SendError::rejected(None, format!("cannot build the e-mail: {e}")))?;
        match self.transport.send(email).await {
            Ok(response) => Ok(Answer {
                status: response.code().to_string().parse().ok(),
                body: Some(super::excerpt(
                    &response.message().collect::<Vec<_>>().join(" "),
                )),
                json: None,
            }),
            Err(error) => {
                let status = error
                    .status()
                    .and_then(|code| code.to_string().parse().ok());
                let described = eventlog::error_chain(&error);
                Err(if error.is_permanent() {
                    SendError::rejected(status, described)
                } else {
                    SendError::failed(status, described)
                })
            }
        }
    }
}

/// The first block of an order id, as a person reads it when the order has no reference.
fn short(order: OrderId) -> String {
    order.to_string().chars().take(8).collect()
}
