//! Request extractors whose failures are problem details naming the field: a JSON body (415
//! if not JSON, 400 if malformed, 422 with the field's path if a value is invalid), query
//! strings, the consistency position, and the metadata a command carries.

use std::{str::FromStr, time::Duration};

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap},
};
use commands::CommandMeta;
use eventlog::{Appended, Metadata};
use serde::de::DeserializeOwned;
use tower_http::request_id::RequestId;
use uuid::Uuid;

use crate::{auth::Caller, idempotency::RequestFingerprint, problem::Problem, AppState};

/// A JSON body, validated into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                let media = media.trim();
                media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")
            });
        if !is_json {
            return Err(Problem::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    Problem::malformed_json(rejection.body_text())
                }
            })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// 413: over the API's body limit.
pub fn too_large() -> Problem {
    Problem::too_large(crate::idempotency::BODY_LIMIT)
}

/// `bytes` as JSON, then as `T`: a syntax error is 400, an invalid value 422 naming its path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| Problem::malformed_json(error.to_string()))?;
    // JSON Schema's `integer` admits `3.0`; serde's integers do not: whole numbers count.
    let value = whole_numbers_as_integers(value);
    if let Some(field) = crate::nul::nul_in_json(&value) {
        return Err(Problem::validation(
            field,
            "a text value may not hold a NUL character",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| Problem::invalid(&error))
}

/// `value` with every number that has no fractional part (`3.0`) written as an integer.
fn whole_numbers_as_integers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // Within ±2^53 a float holds every integer exactly.
            if float.fract() == 0.0 && float.abs() <= 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(float as i64)
            } else {
                Value::Number(number)
            }
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(whole_numbers_as_integers).collect())
        }
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, item)| (key, whole_numbers_as_integers(item)))
                .collect(),
        ),
        other => other,
    }
}

/// The log position a read must include: header `X-Min-Position` or query `min_position`.
#[derive(Debug, Clone, Copy)]
pub struct MinPosition(pub Option<i64>);

/// How long a read waits for its position before a 503, by default.
pub const CONSISTENCY_WAIT: Duration = Duration::from_secs(5);

impl<S: Send + Sync> FromRequestParts<S> for MinPosition {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let from_header = parts.headers.get("x-min-position").map(|value| {
            (
                value.to_str().unwrap_or_default().to_owned(),
                "X-Min-Position",
            )
        });
        let from_query = parts.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "min_position")
                .map(|(_, value)| (value.into_owned(), "min_position"))
        });
        match from_header.or(from_query) {
            None => Ok(Self(None)),
            Some((value, field)) => value
                .parse::<i64>()
                .ok()
                .filter(|p| *p >= 0)
                .map(|p| Self(Some(p)))
                .ok_or_else(|| {
                    Problem::validation(field, "a log position is a whole number from 0")
                }),
        }
    }
}

impl MinPosition {
    /// Waits until `projection` includes the position, or fails with a 503 problem after
    /// the state's `consistency_wait`.
    pub async fn wait(self, state: &AppState, projection: &str) -> Result<(), Problem> {
        let Some(position) = self.0 else {
            return Ok(());
        };
        // A position past the log's head was never given out: waiting could not help.
        if position > state.log.last_position().await? {
            return Err(Problem::validation(
                "min_position",
                "this position is past the end of the log; send one a command answered",
            ));
        }
        projections::wait_for(&state.log, projection, position, state.consistency_wait)
            .await
            .map_err(|error| match error {
                projections::WaitError::Timeout { reached, .. } => Problem::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "not_yet_consistent",
                    "The read model has not caught up",
                    format!(
                        "{projection} is at position {reached}, not yet {position}; retry shortly"
                    ),
                ),
                projections::WaitError::Storage(error) => Problem::from(error),
            })
    }
}

/// What a command carries from its request: the caller as actor, the request id as request
/// and correlation id, the `Idempotency-Key` (scoped to the caller) and `If-Match`.
#[derive(Debug)]
pub struct CommandContext {
    /// Who asks.
    pub caller: Caller,
    /// The metadata for the command's events.
    pub meta: CommandMeta,
}

impl FromRequestParts<AppState> for CommandContext {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .map(str::to_owned);
        let fingerprint = parts
            .extensions
            .get::<RequestFingerprint>()
            .map(|f| f.0.clone())
            .unwrap_or_default();
        let idempotency_key = header_text(&parts.headers, "Idempotency-Key")?
            .map(|key| format!("api:{}:{key}:{fingerprint}", caller.user_id));
        let expected_version = match header_text(&parts.headers, "If-Match")? {
            // An empty list of entity tags: no precondition (RFC 9110 §5.6.1).
            None => None,
            Some(value) if value.trim().is_empty() => None,
            Some(value) => Some(stream_version(&value).ok_or_else(|| {
                Problem::validation(
                    "If-Match",
                    "If-Match is the stream version the change was decided on, e.g. \"3\"",
                )
            })?),
        };
        let meta = CommandMeta {
            metadata: Metadata {
                actor: Some(caller.actor()),
                correlation_id: request_id.clone(),
                source: Some("api".to_owned()),
                request_id,
                ..Metadata::default()
            },
            idempotency_key,
            expected_version,
        };
        Ok(Self { caller, meta })
    }
}

/// The stream version of an `If-Match` value: 1 to 18 digits, quoted (`"3"`) or not.
fn stream_version(value: &str) -> Option<i64> {
    let digits = match value.strip_prefix('"') {
        Some(quoted) => quoted.strip_suffix('"')?,
        None => value,
    };
    if (1..=18).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The value of header `name`, if sent; a value that is not visible ASCII is a 422 naming the
/// header rather than a header silently ignored.
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, Problem> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map(str::to_owned).map_err(|_| {
                Problem::validation(name, "a header value is visible ASCII characters only")
            })
        })
        .transpose()
}

impl CommandContext {
    /// What the log recorded under this request's idempotency key, if anything: a retry whose
    /// stored response was lost (a time-out, a crash) finds there the ids its first run chose.
    pub async fn first_run(&self, state: &AppState) -> Result<Option<Appended>, Problem> {
        match &self.meta.idempotency_key {
            Some(key) => Ok(state.log.recorded(key).await?),
            None => Ok(None),
        }
    }

    /// The id of the stream a creating command starts: the one the caller gave, else the one
    /// the first run of this idempotency key chose, else a new one.
    pub async fn stream_id<Id>(&self, state: &AppState, given: Option<Id>) -> Result<Id, Problem>
    where
        Id: FromStr + From<Uuid>,
        Id::Err: std::fmt::Display,
    {
        if let Some(id) = given {
            return Ok(id);
        }
        match self.first_run(state).await? {
            Some(first) => first
                .stream
                .aggregate_id
                .parse()
                .map_err(|e: Id::Err| Problem::internal(&e)),
            None => Ok(Id::from(Uuid::now_v7())),
        }
    }
}
