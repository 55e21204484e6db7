//! The shipment's rules: which events each command causes in each status.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::{
    CarrierStatus, Parcel, PurchasedLabel, ShipmentCancelled, ShipmentCommand, ShipmentCreated,
    ShipmentDelivered, ShipmentDeliveryFailed, ShipmentDispatched, ShipmentError, ShipmentEvent,
    ShipmentLabelCreated, ShipmentLabelFailed, ShipmentLabelRequested, ShipmentLine,
    ShipmentOutForDelivery, ShipmentProviderShipmentRecorded, ShipmentReturned, ShipmentState,
    ShipmentStatus, TrackingUpdate,
};
use crate::{Code, Context, ExternalRef, NonEmptyText, OrderId, ShipmentId};

type Decision = Result<Vec<ShipmentEvent>, ShipmentError>;

/// Decides the events for `command` against `state` (`None`: not created yet).
pub(super) fn decide(
    state: Option<&ShipmentState>,
    command: ShipmentCommand,
    ctx: &Context,
) -> Decision {
    use ShipmentCommand as C;
    if let C::CreateShipment {
        shipment_id,
        order_id,
        carrier,
        lines,
    } = command
    {
        return create(state, shipment_id, order_id, carrier, lines, ctx);
    }
    let shipment = state.ok_or(ShipmentError::NotCreated)?;
    let now = ctx.now();
    match command {
        C::CreateShipment { .. } => Ok(vec![]),
        C::RecordTrackingUpdate(update) => Ok(track(shipment, update)),
        _ if shipment.status == ShipmentStatus::Cancelled => {
            if matches!(command, C::CancelShipment { .. }) {
                Ok(vec![])
            } else {
                Err(ShipmentError::Cancelled)
            }
        }
        C::RecordLabel { tracking_number } => {
            if shipment.tracking_number.as_ref() == Some(&tracking_number) {
                Ok(vec![])
            } else if !shipment.status.is_before_dispatch() {
                Err(ShipmentError::LabelAfterDispatch)
            } else if shipment.label_request.is_some() {
                Err(ShipmentError::LabelPending)
            } else {
                Ok(vec![ShipmentEvent::ShipmentLabelCreated(
                    ShipmentLabelCreated {
                        tracking_number,
                        purchase: None,
                        created_at: now,
                    },
                )])
            }
        }
        C::RequestLabel { parcel } => request_label(shipment, parcel, ctx),
        C::RecordProviderShipment {
            provider_shipment_id,
        } => Ok(provider_shipment(shipment, provider_shipment_id, ctx)),
        C::RecordPurchasedLabel {
            tracking_number,
            label,
        } => purchased(shipment, tracking_number, label, ctx),
        C::RecordLabelFailed { code, message } => Ok(match &shipment.label_request {
            Some(_) => vec![ShipmentEvent::ShipmentLabelFailed(ShipmentLabelFailed {
                order_id: shipment.order_id,
                code,
                message,
                failed_at: now,
            })],
            None => vec![],
        }),
        C::DispatchShipment => Ok(if shipment.status.is_before_dispatch() {
            vec![dispatched(shipment, now)]
        } else {
            vec![]
        }),
        C::DeliverShipment => match shipment.status {
            ShipmentStatus::Delivered => Ok(vec![]),
            ShipmentStatus::Returned => Err(ShipmentError::AlreadyReturned),
            _ => Ok(with_implied_dispatch(
                shipment,
                now,
                delivered(shipment, now),
            )),
        },
        C::RecordDeliveryFailure { reason } => match shipment.status {
            ShipmentStatus::Pending | ShipmentStatus::LabelCreated => {
                Err(ShipmentError::NotDispatched)
            }
            ShipmentStatus::DeliveryFailed => Ok(vec![]),
            ShipmentStatus::Delivered => Err(ShipmentError::AlreadyDelivered),
            ShipmentStatus::Returned => Err(ShipmentError::AlreadyReturned),
            _ => Ok(vec![failed(reason, now)]),
        },
        C::ReturnShipment { reason } => match shipment.status {
            ShipmentStatus::Pending | ShipmentStatus::LabelCreated => {
                Err(ShipmentError::NotDispatched)
            }
            ShipmentStatus::Returned => Ok(vec![]),
            _ => Ok(vec![returned(shipment, reason, now)]),
        },
        C::CancelShipment { reason } => {
            if shipment.status.is_before_dispatch() {
                Ok(vec![ShipmentEvent::ShipmentCancelled(ShipmentCancelled {
                    order_id: shipment.order_id,
                    reason,
                    cancelled_at: now,
                })])
            } else {
                Err(ShipmentError::CancelAfterDispatch)
            }
        }
    }
}

fn create(
    state: Option<&ShipmentState>,
    shipment_id: ShipmentId,
    order_id: OrderId,
    carrier: Code,
    mut lines: Vec<ShipmentLine>,
    ctx: &Context,
) -> Decision {
    if lines.is_empty() {
        return Err(ShipmentError::NoLines);
    }
    let skus: BTreeSet<_> = lines.iter().map(|line| &line.sku).collect();
    if skus.len() != lines.len() {
        return Err(ShipmentError::DuplicateSku);
    }
    lines.sort();
    if let Some(existing) = state {
        let mut existing_lines = existing.lines.clone();
        existing_lines.sort();
        let same = existing.shipment_id == shipment_id
            && existing.order_id == order_id
            && existing.carrier == carrier
            && existing_lines == lines;
        return if same {
            Ok(vec![])
        } else {
            Err(ShipmentError::AlreadyCreated)
        };
    }
    Ok(vec![ShipmentEvent::ShipmentCreated(ShipmentCreated {
        shipment_id,
        order_id,
        carrier,
        lines,
        created_at: ctx.now(),
    })])
}

/// A label asked of the carrier integration: once, before dispatch, for a shipment without
/// one; asking again while it is pending asks nothing more.
fn request_label(shipment: &ShipmentState, parcel: Option<Parcel>, ctx: &Context) -> Decision {
    if parcel.is_some_and(|p| p.is_empty()) {
        return Err(ShipmentError::EmptyParcel);
    }
    if !shipment.status.is_before_dispatch() {
        return Err(ShipmentError::LabelAfterDispatch);
    }
    if shipment.label_request.is_some() {
        return Ok(vec![]);
    }
    if shipment.tracking_number.is_some() {
        return Err(ShipmentError::AlreadyLabelled);
    }
    Ok(vec![ShipmentEvent::ShipmentLabelRequested(
        ShipmentLabelRequested {
            order_id: shipment.order_id,
            parcel,
            requested_at: ctx.now(),
        },
    )])
}

/// The provider's shipment for the pending request: the first one recorded is the one bought
/// (a later one, made by a retry that did not find the first, is left unbought).
fn provider_shipment(
    shipment: &ShipmentState,
    provider_shipment_id: ExternalRef,
    ctx: &Context,
) -> Vec<ShipmentEvent> {
    match &shipment.label_request {
        Some(request) if request.provider_shipment_id.is_none() => {
            vec![ShipmentEvent::ShipmentProviderShipmentRecorded(
                ShipmentProviderShipmentRecorded {
                    order_id: shipment.order_id,
                    provider_shipment_id,
                    recorded_at: ctx.now(),
                },
            )]
        }
        _ => vec![],
    }
}

/// The label the provider sold: recorded once (the same tracking number again is nothing new),
/// also when nobody asked for it here (the provider's word on money spent wins), unless the
/// parcel has left.
fn purchased(
    shipment: &ShipmentState,
    tracking_number: ExternalRef,
    label: PurchasedLabel,
    ctx: &Context,
) -> Decision {
    if shipment.tracking_number.as_ref() == Some(&tracking_number) {
        return Ok(vec![]);
    }
    if !shipment.status.is_before_dispatch() {
        return Err(ShipmentError::LabelAfterDispatch);
    }
    Ok(vec![ShipmentEvent::ShipmentLabelCreated(
        ShipmentLabelCreated {
            tracking_number,
            purchase: Some(label),
            created_at: ctx.now(),
        },
    )])
}

/// Records a carrier update, and moves the status only when the update is the newest seen and
/// the status is not final: a late update never moves the status backwards.
fn track(shipment: &ShipmentState, update: TrackingUpdate) -> Vec<ShipmentEvent> {
    if shipment.has_seen(&update.carrier_event_id) {
        return vec![];
    }
    let at = update.occurred_at;
    let is_newest = shipment
        .latest_tracking_at
        .is_none_or(|latest| at >= latest);
    let carrier_status = update.carrier_status;
    let description = update.description.clone();
    let mut events = vec![ShipmentEvent::ShipmentTrackingUpdated(update)];
    if !is_newest || shipment.status.is_final() {
        return events;
    }
    let status = shipment.status;
    let moved = match carrier_status {
        CarrierStatus::PreTransit | CarrierStatus::Unknown => None,
        CarrierStatus::InTransit => status
            .is_before_dispatch()
            .then(|| dispatched(shipment, at)),
        CarrierStatus::OutForDelivery => (status != ShipmentStatus::OutForDelivery).then_some(
            ShipmentEvent::ShipmentOutForDelivery(ShipmentOutForDelivery { at }),
        ),
        CarrierStatus::Delivered => Some(delivered(shipment, at)),
        CarrierStatus::DeliveryFailed => (status != ShipmentStatus::DeliveryFailed).then(|| {
            let reason = description.unwrap_or_else(|| {
                NonEmptyText::from_trusted("carrier reported a failed delivery attempt")
            });
            failed(reason, at)
        }),
        CarrierStatus::ReturnedToSender => {
            let reason = description
                .unwrap_or_else(|| NonEmptyText::from_trusted("carrier returned it to sender"));
            Some(returned(shipment, reason, at))
        }
    };
    if let Some(moved) = moved {
        match moved {
            ShipmentEvent::ShipmentDispatched(_) => events.push(moved),
            other => events.extend(with_implied_dispatch(shipment, at, other)),
        }
    }
    events
}

/// A milestone seen before the dispatch implies it: the dispatch is emitted first.
fn with_implied_dispatch(
    shipment: &ShipmentState,
    at: DateTime<Utc>,
    milestone: ShipmentEvent,
) -> Vec<ShipmentEvent> {
    if shipment.status.is_before_dispatch() {
        vec![dispatched(shipment, at), milestone]
    } else {
        vec![milestone]
    }
}

fn dispatched(shipment: &ShipmentState, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentDispatched(ShipmentDispatched {
        order_id: shipment.order_id,
        dispatched_at: at,
    })
}

fn delivered(shipment: &ShipmentState, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentDelivered(ShipmentDelivered {
        order_id: shipment.order_id,
        delivered_at: at,
    })
}

fn failed(reason: NonEmptyText, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentDeliveryFailed(ShipmentDeliveryFailed {
        reason,
        failed_at: at,
    })
}

fn returned(shipment: &ShipmentState, reason: NonEmptyText, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentReturned(ShipmentReturned {
        order_id: shipment.order_id,
        reason,
        returned_at: at,
    })
}
