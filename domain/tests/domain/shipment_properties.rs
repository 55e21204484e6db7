//! Property tests of the Shipment decider over random command sequences.

use domain::{
    shipment::{
        self, CarrierStatus, Shipment, ShipmentCommand, ShipmentLine, ShipmentStatus,
        TrackingUpdate,
    },
    Decider,
};
use proptest::prelude::*;

use crate::support::{code, ctx, ext, minutes, order_id, qty, shipment_id, sku, text};

fn create() -> ShipmentCommand {
    ShipmentCommand::CreateShipment {
        shipment_id: shipment_id(1),
        order_id: order_id(),
        carrier: code("dhl"),
        lines: vec![ShipmentLine {
            sku: sku("MUG"),
            quantity: qty(2),
        }],
    }
}

fn carrier_status() -> impl Strategy<Value = CarrierStatus> {
    prop::sample::select(vec![
        CarrierStatus::PreTransit,
        CarrierStatus::InTransit,
        CarrierStatus::OutForDelivery,
        CarrierStatus::Delivered,
        CarrierStatus::DeliveryFailed,
        CarrierStatus::ReturnedToSender,
        CarrierStatus::Unknown,
    ])
}

fn command() -> impl Strategy<Value = ShipmentCommand> {
    prop_oneof![
        1 => Just(create()),
        1 => (1u8..=2).prop_map(|n| ShipmentCommand::RecordLabel {
            tracking_number: ext(&format!("TRK{n}"))
        }),
        1 => Just(ShipmentCommand::DispatchShipment),
        3 => (1u8..=6, carrier_status(), 0i64..60).prop_map(|(n, carrier_status, at)| {
            ShipmentCommand::RecordTrackingUpdate(TrackingUpdate {
                carrier_event_id: ext(&format!("ev_{n}")),
                carrier_status,
                occurred_at: minutes(at),
                location: None,
                description: None,
            })
        }),
        1 => Just(ShipmentCommand::DeliverShipment),
        1 => Just(ShipmentCommand::RecordDeliveryFailure {
            reason: text("nobody home")
        }),
        1 => Just(ShipmentCommand::ReturnShipment {
            reason: text("refused")
        }),
        1 => Just(ShipmentCommand::CancelShipment {
            reason: text("random")
        }),
    ]
}

fn commands() -> impl Strategy<Value = Vec<ShipmentCommand>> {
    (any::<u8>(), prop::collection::vec(command(), 1..30)).prop_map(|(roll, mut commands)| {
        if roll % 8 != 0 {
            commands.insert(0, create());
        }
        commands
    })
}

/// Final statuses only ever move on to a later final status (a delivered parcel may come back).
fn allowed(before: ShipmentStatus, after: ShipmentStatus) -> bool {
    use ShipmentStatus as S;
    match before {
        S::Cancelled => after == S::Cancelled,
        S::Returned => after == S::Returned,
        S::Delivered => matches!(after, S::Delivered | S::Returned),
        S::InTransit | S::OutForDelivery | S::DeliveryFailed => !after.is_before_dispatch(),
        S::Pending | S::LabelCreated => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn shipment_state_rebuilt_from_its_events_equals_the_state_reached_while_deciding(
        commands in commands()
    ) {
        let ctx = ctx();
        let mut state: Option<domain::shipment::ShipmentState> = None;
        let mut history = Vec::new();
        for command in commands {
            let before = state.as_ref().map(|s| s.status);
            if let Ok(events) = Shipment::decide(&state, command, &ctx) {
                for event in &events {
                    Shipment::evolve(&mut state, event);
                    let stored = shipment::encode(event);
                    let decoded = shipment::decode(stored.event_type, stored.event_version, &stored.payload).unwrap();
                    prop_assert_eq!(&decoded, event);
                }
                history.extend(events);
            }
            if let (Some(before), Some(after)) = (before, state.as_ref()) {
                prop_assert!(allowed(before, after.status), "{:?} -> {:?}", before, after.status);
                let latest = after.tracking.iter().map(|t| t.occurred_at).max();
                prop_assert_eq!(after.latest_tracking_at, latest);
                let mut ids: Vec<_> = after.tracking.iter().map(|t| &t.carrier_event_id).collect();
                ids.sort();
                ids.dedup();
                prop_assert_eq!(ids.len(), after.tracking.len(), "a carrier event recorded twice");
            }
        }
        prop_assert_eq!(Shipment::fold(&history), state);
    }
}
