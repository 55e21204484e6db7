//! Why a delivery is refused, as problem details: a signature that does not verify is 401
//! naming its header, a payload that cannot be read 400 naming the body part.

use axum::http::StatusCode;
use problem::Problem;

use crate::inbound::{payload::PayloadError, signature::SignatureError};

impl From<SignatureError> for Problem {
    fn from(error: SignatureError) -> Self {
        let (code, title, header) = match &error {
            SignatureError::MissingHeader { header } => {
                ("missing_header", "Missing signature header", header)
            }
            SignatureError::MalformedHeader { header, .. } => {
                ("malformed_header", "Malformed signature header", header)
            }
            SignatureError::Stale { header, .. } => ("stale_timestamp", "Stale timestamp", header),
            SignatureError::NoMatchingSignature { header } => {
                ("invalid_signature", "Invalid signature", header)
            }
        };
        Self::new(StatusCode::UNAUTHORIZED, code, title, error.to_string())
            .with_field(header.to_ascii_lowercase())
    }
}

impl From<PayloadError> for Problem {
    fn from(error: PayloadError) -> Self {
        let field = match &error {
            PayloadError::EventId { .. } => "id",
            _ => "body",
        };
        let mut detail = error.to_string();
        if let Some(cause) = std::error::Error::source(&error) {
            detail = format!("{detail}: {cause}");
        }
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_payload",
            "Malformed payload",
            detail,
        )
        .with_field(field)
    }
}
