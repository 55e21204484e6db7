//! The document's schemas of the domain's validated values: the constraints the domain's
//! parsers apply (`domain::values`, `domain::money`), stated once here so that a client
//! generated from the document never sends a value the server refuses. Values are trimmed
//! before they are checked, so surrounding white space is allowed.

use utoipa::openapi::{
    schema::{SchemaType, Type},
    Object, ObjectBuilder,
};

/// No control character (Rust's `char::is_control`: U+0000–U+001F, U+007F–U+009F).
const PRINTABLE: &str = r"[^\x00-\x1F\x7F-\x9F]";
/// A character that is neither white space nor a control character.
const VISIBLE: &str = r"[^\s\x00-\x1F\x7F-\x9F]";

fn string(nullable: bool) -> ObjectBuilder {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new().schema_type(kind)
}

/// Free text of 1 to `max` characters once trimmed, without control characters.
fn text(max: usize, nullable: bool, description: &str) -> Object {
    string(nullable)
        .description(Some(description))
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(format!(
            r"^\s*{VISIBLE}(?:{PRINTABLE}*{VISIBLE})?\s*$"
        )))
        .build()
}

/// Characters from `class`, 1 to 64 once trimmed.
fn code_like(class: &str, nullable: bool, description: &str, example: &str) -> Object {
    string(nullable)
        .description(Some(description))
        .min_length(Some(1))
        .pattern(Some(format!(r"^\s*{class}{{1,64}}\s*$")))
        .examples([serde_json::json!(example)])
        .build()
}

/// `NonEmptyText`: a name, a reason, an address line (1–2000 characters).
pub(crate) fn text_2000() -> Object {
    text(2000, false, "1 to 2000 characters, no control characters")
}

/// An optional `NonEmptyText`.
pub(crate) fn optional_text_2000() -> Object {
    text(2000, true, "1 to 2000 characters, no control characters")
}

/// `ExternalRef`: an identifier issued by another system (1–255 characters).
pub(crate) fn reference() -> Object {
    text(255, false, "1 to 255 characters, no control characters")
}

/// An optional `ExternalRef`.
pub(crate) fn optional_reference() -> Object {
    text(255, true, "1 to 255 characters, no control characters")
}

/// `Sku`: 1–64 of `A-Z a-z 0-9 - _ . /`.
pub(crate) fn sku() -> Object {
    code_like(
        r"[A-Za-z0-9._/-]",
        false,
        "1 to 64 of A-Z a-z 0-9 - _ . /",
        "SKU-1",
    )
}

/// `Code`: a provider, a carrier: 1–64 of `a-z 0-9 _ - .` (upper case is lowered).
pub(crate) fn code() -> Object {
    code_like(
        r"[A-Za-z0-9._-]",
        false,
        "1 to 64 of a-z 0-9 _ - .",
        "stripe",
    )
}

/// `Currency`: ISO 4217, three upper-case letters.
pub(crate) fn currency() -> Object {
    string(false)
        .description(Some("ISO 4217, three upper-case letters"))
        .pattern(Some("^[A-Z]{3}$"))
        .examples([serde_json::json!("EUR")])
        .build()
}

/// `CountryCode`: ISO 3166-1 alpha-2, two upper-case letters.
pub(crate) fn country() -> Object {
    string(false)
        .description(Some("ISO 3166-1 alpha-2, two upper-case letters"))
        .pattern(Some(r"^\s*[A-Z]{2}\s*$"))
        .examples([serde_json::json!("DE")])
        .build()
}

/// The values a status filter takes: the domain's statuses, each listed here once (a new
/// status fails to compile until it is added: the match below is exhaustive).
fn statuses() -> [(&'static str, Vec<serde_json::Value>); 5] {
    use adapters::inbound::inbox::DeliveryStatus as D;
    use domain::{
        order::{FulfillmentStatus as F, OrderPaymentStatus as P, OrderStatus as O},
        payment::PaymentStatus as Pay,
        shipment::ShipmentStatus as S,
    };
    fn names<T: serde::Serialize>(all: &[T]) -> Vec<serde_json::Value> {
        all.iter()
            .filter_map(|s| serde_json::to_value(s).ok())
            .collect()
    }
    // Exhaustive matches: a status added to the domain must be added to the lists.
    let _ = |o: O, p: P, f: F, pay: Pay, s: S, d: D| {
        let _ = (
            match o {
                O::Placed | O::Completed | O::Cancelled => (),
            },
            match p {
                P::Unpaid | P::PartiallyPaid | P::Paid | P::PartiallyRefunded | P::Refunded => (),
            },
            match f {
                F::Unfulfilled
                | F::PartiallyShipped
                | F::Shipped
                | F::PartiallyDelivered
                | F::Delivered
                | F::Returned => (),
            },
            match pay {
                Pay::Pending
                | Pay::Authorized
                | Pay::PartiallyCaptured
                | Pay::Captured
                | Pay::PartiallyRefunded
                | Pay::Refunded
                | Pay::Failed
                | Pay::Voided => (),
            },
            match s {
                S::Pending
                | S::LabelCreated
                | S::InTransit
                | S::OutForDelivery
                | S::Delivered
                | S::DeliveryFailed
                | S::Returned
                | S::Cancelled => (),
            },
            match d {
                D::Pending | D::Done | D::Failed | D::Dead | D::Unmatched | D::Ignored => (),
            },
        );
    };
    [
        (
            "/api/v1/orders status",
            names(&[O::Placed, O::Completed, O::Cancelled]),
        ),
        (
            "/api/v1/orders payment_status",
            names(&[
                P::Unpaid,
                P::PartiallyPaid,
                P::Paid,
                P::PartiallyRefunded,
                P::Refunded,
            ]),
        ),
        (
            "/api/v1/orders fulfillment_status",
            names(&[
                F::Unfulfilled,
                F::PartiallyShipped,
                F::Shipped,
                F::PartiallyDelivered,
                F::Delivered,
                F::Returned,
            ]),
        ),
        (
            "/api/v1/payments status",
            names(&[
                Pay::Pending,
                Pay::Authorized,
                Pay::PartiallyCaptured,
                Pay::Captured,
                Pay::PartiallyRefunded,
                Pay::Refunded,
                Pay::Failed,
                Pay::Voided,
            ]),
        ),
        (
            "/api/v1/shipments status",
            names(&[
                S::Pending,
                S::LabelCreated,
                S::InTransit,
                S::OutForDelivery,
                S::Delivered,
                S::DeliveryFailed,
                S::Returned,
                S::Cancelled,
            ]),
        ),
    ]
}

/// The constraints of the parameters the server validates itself (headers, positions,
/// filters), stated in the document: set on every operation that takes them.
pub(crate) fn constrain_parameters(document: &mut utoipa::openapi::OpenApi) {
    use adapters::inbound::{inbox::DeliveryStatus as D, payload::Source};
    use serde_json::{json, Value};
    let Ok(mut value) = serde_json::to_value(&*document) else {
        return;
    };
    let position = json!({"type": "integer", "format": "int64", "minimum": 0});
    let sources: Vec<Value> = [Source::Stripe, Source::EasyPost, Source::Erp, Source::Crm]
        .iter()
        .map(|s| json!(s.as_str()))
        .collect();
    let delivery_statuses: Vec<Value> = [
        D::Pending,
        D::Done,
        D::Failed,
        D::Dead,
        D::Unmatched,
        D::Ignored,
    ]
    .iter()
    .map(|s| json!(s.as_str()))
    .collect();
    let statuses = statuses();
    let Some(paths) = value["paths"].as_object_mut() else {
        return;
    };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(parameters) = operation["parameters"].as_array_mut() else {
                continue;
            };
            for parameter in parameters {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                let schema = match name.as_str() {
                    // 1 to 200 visible ASCII characters.
                    "Idempotency-Key" => json!({"type": "string", "pattern": "^[!-~]{1,200}$"}),
                    // A stream version, quoted or not; empty: no precondition.
                    "If-Match" => json!({"type": "string",
                        "pattern": "^(\"[0-9]{1,18}\"|[0-9]{1,18}|)$"}),
                    "X-Min-Position" | "min_position" | "after" => position.clone(),
                    "limit" if path.starts_with("/api/v1/admin/") => {
                        json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 200})
                    }
                    "source" if path.starts_with("/api/v1/admin/") => {
                        json!({"type": "string", "enum": sources})
                    }
                    "status" if path.starts_with("/api/v1/admin/") => {
                        json!({"type": "string", "enum": delivery_statuses})
                    }
                    _ => match statuses
                        .iter()
                        .find(|(key, _)| *key == format!("{path} {name}"))
                    {
                        Some((_, names)) => json!({"type": "string", "enum": names}),
                        // Any other text filter: no NUL character (refused with a 422).
                        None if parameter["in"] == "query"
                            && parameter["schema"]["type"] == "string"
                            && parameter["schema"]["format"].is_null() =>
                        {
                            json!({"type": "string", "pattern": "^[^\\x00]*$"})
                        }
                        None => continue,
                    },
                };
                parameter["schema"] = schema;
            }
        }
    }
    if let Ok(constrained) = serde_json::from_value(value) {
        *document = constrained;
    }
}
