//! RFC 9457 problem details, the one error format of the webhook and admin routes: a stable
//! `type` URI and snake_case `code`, a human `detail`, and the `field` (header or parameter) at
//! fault. Infrastructure failures are 503, their cause logged, never sent.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::inbound::{payload::PayloadError, signature::SignatureError};

/// Where problem types are documented; the code follows, with dashes.
const TYPE_BASE: &str = "https://backoffice.dev/problems/";

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable snake_case code.
    pub code: &'static str,
    /// A short summary of the problem type.
    pub title: &'static str,
    /// What happened in this case.
    pub detail: String,
    /// The header, parameter or body part at fault.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    problem_type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl Problem {
    /// A problem with no field at fault.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            field: None,
        }
    }

    /// The same problem, naming the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The database (or another dependency) failed: 503, so that the sender retries.
    pub fn unavailable(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, cause = ?error.source(), "webhook storage failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "Storage unavailable",
            "the delivery could not be stored; retry later",
        )
    }

    /// The body is larger than the routes accept.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            format!("the body exceeds {limit} bytes"),
        )
        .with_field("body")
    }
}

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

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            problem_type: format!("{TYPE_BASE}{}", self.code.replace('_', "-")),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            field: self.field.as_deref(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, json).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
