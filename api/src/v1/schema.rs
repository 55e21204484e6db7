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

/// Free text of 1 to `max` characters once trimmed, without control characters. The limit is
/// stated in the pattern, on what is left once trimmed, as the server counts it (a `maxLength`
/// would count the surrounding white space too).
fn text(max: usize, nullable: bool, description: &str) -> Object {
    let inner = max.saturating_sub(2);
    string(nullable)
        .description(Some(description))
        .min_length(Some(1))
        .pattern(Some(format!(
            r"^\s*{VISIBLE}(?:{PRINTABLE}{{0,{inner}}}{VISIBLE})?\s*$"
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

/// A UTC day, `YYYY-MM-DD` exactly (RFC 3339 `full-date`).
pub(crate) fn day() -> Object {
    string(false)
        .description(Some("A UTC day, YYYY-MM-DD"))
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Date,
        )))
        .pattern(Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        .examples([serde_json::json!("2026-11-01")])
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

/// The values each status filter takes: the names of the domain's statuses, from the enums
/// themselves (a new status is in the document as soon as it is in the domain).
fn statuses() -> [(&'static str, Vec<serde_json::Value>); 7] {
    use domain::{
        attention::{AttentionKind, AttentionStatus},
        order::{FulfillmentStatus, OrderPaymentStatus, OrderStatus},
        payment::PaymentStatus,
        shipment::ShipmentStatus,
    };
    use strum::VariantArray;
    fn names<T: VariantArray + Copy + Into<&'static str>>() -> Vec<serde_json::Value> {
        T::VARIANTS
            .iter()
            .map(|s| serde_json::Value::from((*s).into()))
            .collect()
    }
    [
        ("/api/v1/orders status", names::<OrderStatus>()),
        (
            "/api/v1/orders payment_status",
            names::<OrderPaymentStatus>(),
        ),
        (
            "/api/v1/orders fulfillment_status",
            names::<FulfillmentStatus>(),
        ),
        ("/api/v1/payments status", names::<PaymentStatus>()),
        ("/api/v1/shipments status", names::<ShipmentStatus>()),
        ("/api/v1/attention kind", names::<AttentionKind>()),
        ("/api/v1/attention status", names::<AttentionStatus>()),
    ]
}

/// The constraints of the parameters the server validates itself (headers, positions,
/// filters), stated in the document: set on every operation that takes them.
pub(crate) fn constrain_parameters(document: &mut utoipa::openapi::OpenApi) {
    use adapters::inbound::{inbox::DeliveryStatus as D, payload::Source};
    use serde_json::{json, Value};
    use strum::VariantArray;
    let Ok(mut value) = serde_json::to_value(&*document) else {
        return;
    };
    let position = json!({"type": "integer", "format": "int64", "minimum": 0});
    let sources: Vec<Value> = Source::all().map(|s| json!(s.as_str())).collect();
    let delivery_statuses: Vec<Value> = D::VARIANTS.iter().map(|s| json!(s.as_str())).collect();
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
                        // Any other text filter (without a pattern of its own, which
                        // excludes it already): no NUL character (refused with a 422).
                        None if parameter["in"] == "query"
                            && parameter["schema"]["type"] == "string"
                            && parameter["schema"]["format"].is_null()
                            && parameter["schema"]["pattern"].is_null() =>
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
