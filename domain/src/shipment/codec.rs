//! Stored form of shipment events. `ShipmentLabelCreated` v1 (before labels were bought) had
//! no `purchase`: it reads as none.

use serde_json::Value;

use super::{ShipmentEvent, AGGREGATE_TYPE};
use crate::codec::{event_codec, from_payload};

event_codec! {
    ShipmentEvent, AGGREGATE_TYPE,
    current {
        ShipmentCreated => "ShipmentCreated" v 1,
        ShipmentLabelRequested => "ShipmentLabelRequested" v 1,
        ShipmentProviderShipmentRecorded => "ShipmentProviderShipmentRecorded" v 1,
        ShipmentLabelFailed => "ShipmentLabelFailed" v 1,
        ShipmentLabelCreated => "ShipmentLabelCreated" v 2,
        ShipmentDispatched => "ShipmentDispatched" v 1,
        ShipmentTrackingUpdated => "ShipmentTrackingUpdated" v 1,
        ShipmentOutForDelivery => "ShipmentOutForDelivery" v 1,
        ShipmentDelivered => "ShipmentDelivered" v 1,
        ShipmentDeliveryFailed => "ShipmentDeliveryFailed" v 1,
        ShipmentReturned => "ShipmentReturned" v 1,
        ShipmentCancelled => "ShipmentCancelled" v 1,
    }
    older {
        ("ShipmentLabelCreated", 1) => |t, v, payload: &Value| {
            from_payload(t, v, payload).map(ShipmentEvent::ShipmentLabelCreated)
        },
    }
}
