//! Stored form of shipment events. All are at version 1.

use super::{ShipmentEvent, AGGREGATE_TYPE};
use crate::codec::event_codec;

event_codec! {
    ShipmentEvent, AGGREGATE_TYPE,
    current {
        ShipmentCreated => "ShipmentCreated" v 1,
        ShipmentLabelCreated => "ShipmentLabelCreated" v 1,
        ShipmentDispatched => "ShipmentDispatched" v 1,
        ShipmentTrackingUpdated => "ShipmentTrackingUpdated" v 1,
        ShipmentOutForDelivery => "ShipmentOutForDelivery" v 1,
        ShipmentDelivered => "ShipmentDelivered" v 1,
        ShipmentDeliveryFailed => "ShipmentDeliveryFailed" v 1,
        ShipmentReturned => "ShipmentReturned" v 1,
        ShipmentCancelled => "ShipmentCancelled" v 1,
    }
}
