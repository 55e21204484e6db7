//! Errors as RFC 9457 problem details, the one error format of every HTTP route (the API, the
//! webhooks and their admin routes): a stable `code` (and `type` URI) per kind, a human
//! `detail`, and the offending `field` or broken `rule` where there is one. Internal errors are
//! an opaque 500, a failed dependency of a webhook a 503, their cause logged, never shown.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use domain::Rule;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered as problem details; boxed, so that results carrying it stay small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemDetails>);

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

/// A problem details body (RFC 9457).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDetails {
    /// A URI naming the kind of problem: `https://backoffice.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable code of the kind (`validation_failed`, `not_found`, `business_rule`, …).
    pub code: String,
    /// What went wrong this time.
    pub detail: String,
    /// The request field at fault (a JSON path such as `lines[0].quantity`), if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The business rule refused (`cancel_after_dispatch`), for `business_rule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl Problem {
    /// A problem of `status` and `code`, titled `title`.
    pub fn new(status: StatusCode, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemDetails {
            kind: format!("https://backoffice.dev/problems/{}", code.replace('_', "-")),
            title: title.to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: detail.into(),
            field: None,
            rule: None,
        }))
    }

    /// 422: the request is well-formed but a value is invalid.
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "A value is invalid",
            detail,
        );
        problem.field = Some(field.into()).filter(|f: &String| !f.is_empty() && f != ".");
        problem
    }

    /// 422 for a value serde refused, naming the field at fault: the error's path, or for a
    /// missing or unknown field the field itself within it.
    pub fn invalid<E: std::fmt::Display>(error: &serde_path_to_error::Error<E>) -> Self {
        let path = error.path().to_string();
        let detail = error.inner().to_string();
        let named = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|prefix| detail.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        let field = match (named, path.as_str()) {
            (Some(name), "." | "") => name.to_owned(),
            // Some deserializers (query strings) have already put the field on the path.
            (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => {
                path.to_owned()
            }
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, _) => path,
        };
        Self::validation(field, detail)
    }

    /// 400: the body is not JSON.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
            detail,
        )
    }

    /// 415: the body is not declared as JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "The body must be JSON",
            "send the body with Content-Type: application/json",
        )
    }

    /// 404.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("no {what} {id}"),
        )
    }

    /// 409: the domain refused the command; `rule` names the rule.
    pub fn business_rule(rule: String, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(
            StatusCode::CONFLICT,
            "business_rule",
            "A business rule refused the command",
            detail,
        );
        problem.rule = Some(rule);
        problem
    }

    /// 409: the resource is not at the version the caller expected.
    pub fn version_conflict(expected: i64, actual: i64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "version_conflict",
            "The resource has changed",
            format!(
                "expected version {expected}, the resource is at version {actual}; read it again"
            ),
        )
    }

    /// 401.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentication required",
            detail,
        )
    }

    /// 403: the caller's role lacks `permission`.
    pub fn forbidden(permission: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not allowed",
            format!("this action needs the permission {permission}"),
        )
    }

    /// The same problem, naming the field (body part, header or parameter) at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is too large",
            format!("request bodies are limited to {limit} bytes"),
        )
        .with_field("body")
    }

    /// A body that could not be read: 413 when it is over `limit` bytes, else 400 (a
    /// malformed chunked encoding, a connection cut mid-body), never a 413 for a broken one.
    pub fn unreadable_body(error: &axum::Error, limit: usize) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            if current.is::<http_body_util::LengthLimitError>() {
                return Self::too_large(limit);
            }
            cause = current.source();
        }
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            "The body could not be read",
            "the request body is malformed or was cut off",
        )
        .with_field("body")
    }

    /// 503: the database (or another dependency) failed, so that a sender that retries (a
    /// webhook provider) tries again later; the cause goes to the log only.
    pub fn unavailable(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, cause = ?error.source(), "storage failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "Storage unavailable",
            "the storage is unreachable or full; retry later",
        )
    }

    /// 500: opaque; the cause goes to the log only.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "the server failed; the cause is logged",
        )
    }

    /// The status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let unauthenticated = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if unauthenticated {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Every 503 is passing (storage back, a read model caught up, a slow request):
            // a client or proxy may retry after a moment.
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// The `Retry-After` of every 503, in seconds.
pub const RETRY_AFTER_SECS: &str = "1";

/// A list's page size: `asked`, else `default`; outside 1 to `largest`, a 422 naming `limit`
/// rather than a page of another size than asked.
pub fn page_size(asked: Option<u32>, default: u32, largest: u32) -> Result<u32, Problem> {
    match asked.unwrap_or(default) {
        size if (1..=largest).contains(&size) => Ok(size),
        _ => Err(Problem::validation(
            "limit",
            format!("a page has 1 to {largest} items"),
        )),
    }
}

/// A query string, validated into `T` (422 naming the parameter).
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(QueryParams)
            .map_err(|error| Problem::invalid(&error))
    }
}

/// A storage failure: a 503 with `Retry-After` when the storage is unreachable, full or
/// read-only (the client may retry), an opaque 500 when it is a bug.
impl From<eventlog::StorageError> for Problem {
    fn from(error: eventlog::StorageError) -> Self {
        if error.is_unavailable() {
            Self::unavailable(&error)
        } else {
            Self::internal(&eventlog::error_chain(&error))
        }
    }
}

impl<E: Rule> From<commands::CommandError<E>> for Problem {
    fn from(error: commands::CommandError<E>) -> Self {
        use commands::CommandError as C;
        match error {
            // The aggregate does not exist: nothing to refuse, nothing found.
            C::Rejected(refusal) if refusal.is_missing() => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                refusal.to_string(),
            ),
            C::Rejected(refusal) => {
                Self::business_rule(refusal.rule().to_owned(), refusal.to_string())
            }
            // The order the command binds refused it: its rule, named as the order's.
            C::RefusedBy { stream, refusal } => {
                Self::business_rule(refusal.rule().to_owned(), format!("{stream}: {refusal}"))
            }
            C::VersionConflict {
                expected, actual, ..
            } => Self::version_conflict(expected, actual),
            C::KeyReused { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "The Idempotency-Key was used for another request",
                "use a new Idempotency-Key for a new request",
            ),
            C::Contended { .. } => Self::new(
                StatusCode::CONFLICT,
                "version_conflict",
                "The resource is changing",
                "the resource kept changing while the command was decided; try again",
            ),
            C::Storage(error) => error.into(),
            other => Self::internal(&other),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn answer(error: eventlog::StorageError) -> Response {
        Problem::from(error).into_response()
    }

    #[test]
    fn storage_that_is_unreachable_or_full_is_a_503_with_retry_after_and_a_bug_is_a_500() {
        for unavailable in [
            eventlog::StorageError::Database {
                context: "reading",
                source: sqlx_pool_timed_out(),
            },
            eventlog::StorageError::BatchFailed,
            eventlog::StorageError::Unavailable("the database file is gone"),
        ] {
            let response = answer(unavailable);
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers().get(header::RETRY_AFTER).unwrap(),
                RETRY_AFTER_SECS
            );
        }
        let response = answer(eventlog::StorageError::Corrupt {
            position: 1,
            reason: "bad json".into(),
        });
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    fn sqlx_pool_timed_out() -> sqlx::Error {
        sqlx::Error::PoolTimedOut
    }
}
