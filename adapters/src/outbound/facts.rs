//! What a mapping may know beyond its event, loaded by the engine before it calls the pure
//! [`super::Destination::message`]: the order and the shipment as folded from the log, and the
//! customer's contact from the CRM's copy (`crm_customers`, which only the CRM writes).

use commands::CommandHandler;
use domain::{
    order::{Order, OrderState},
    shipment::{Shipment, ShipmentState},
    CustomerId,
};
use eventlog::{RecordedEvent, StorageError};
use serde::{Deserialize, Serialize};

/// Which facts a destination's mapping reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The order the event concerns.
    pub order: bool,
    /// The shipment, for a shipment's event.
    pub shipment: bool,
    /// The order's customer's contact.
    pub contact: bool,
}

impl Needs {
    /// Nothing beyond the event.
    pub const NOTHING: Self = Self {
        order: false,
        shipment: false,
        contact: false,
    };
}

/// The facts of one event.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The order, if needed and placed.
    pub order: Option<OrderState>,
    /// The shipment, if needed and the event is one of a shipment.
    pub shipment: Option<ShipmentState>,
    /// The customer's contact, if needed and the CRM sent one.
    pub contact: Option<Contact>,
}

/// A customer's contact, as the CRM last sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The customer.
    pub customer_id: String,
    /// Their name.
    pub name: String,
    /// Their e-mail address.
    pub email: String,
    /// Their phone number (E.164), if the CRM has one.
    pub phone: Option<String>,
}

impl Facts {
    /// Loads what `needs` asks for about `event`.
    pub async fn load(
        handler: &CommandHandler,
        event: &RecordedEvent,
        needs: Needs,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        load(handler, event, needs).await
    }
}

async fn load(
    handler: &CommandHandler,
    event: &RecordedEvent,
    needs: Needs,
) -> Result<Facts, Box<dyn std::error::Error + Send + Sync>> {
    let mut facts = Facts::default();
    if needs.shipment && event.stream.aggregate_type == domain::shipment::AGGREGATE_TYPE {
        let (shipment, _) = handler.load::<Shipment>(&event.stream.aggregate_id).await?;
        facts.shipment = shipment;
    }
    let order_id = commands::attention::order_of(event)
        .or_else(|| facts.shipment.as_ref().map(|s| s.order_id));
    if let Some(order_id) = order_id.filter(|_| needs.order || needs.contact) {
        let (order, _) = handler.load::<Order>(&order_id.to_string()).await?;
        facts.order = order;
    }
    if let Some(order) = facts.order.as_ref().filter(|_| needs.contact) {
        facts.contact = contact(handler, order.customer_id).await?;
    }
    Ok(facts)
}

async fn contact(
    handler: &CommandHandler,
    customer: CustomerId,
) -> Result<Option<Contact>, StorageError> {
    let row = projections::customers::get_customer(handler.log(), &customer.to_string()).await?;
    // A forgotten customer has no contact to reach (ADR 0028).
    let row = row.filter(|row| row.email != eventlog::privacy::ERASED);
    Ok(row.map(|row| Contact {
        customer_id: row.customer_id,
        name: row.name,
        email: row.email,
        phone: row.phone,
    }))
}
