//! The vocabulary of the log: streams, expected versions, events to append and events recorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A stream: the events of one aggregate instance, e.g. `order` / `0190…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamId {
    /// The aggregate type, e.g. `order`.
    pub aggregate_type: String,
    /// The aggregate instance id.
    pub aggregate_id: String,
}

impl StreamId {
    /// A stream of `aggregate_type` with the instance id `aggregate_id`.
    pub fn new(aggregate_type: impl Into<String>, aggregate_id: impl Into<String>) -> Self {
        Self {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.aggregate_type, self.aggregate_id)
    }
}

/// What the appender believes the stream's version to be (optimistic concurrency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have this version (1 or more).
    Exact(u64),
}

impl ExpectedVersion {
    /// That the stream is still at `version`, as it was loaded (0: it does not exist yet).
    pub fn at(version: i64) -> Self {
        match u64::try_from(version) {
            Ok(0) | Err(_) => Self::NoStream,
            Ok(version) => Self::Exact(version),
        }
    }

    /// The encoding the SQL side uses: -1 any, 0 no stream, n exact.
    pub(crate) fn as_sql(self) -> i64 {
        match self {
            Self::Any => -1,
            Self::NoStream => 0,
            Self::Exact(n) => i64::try_from(n).unwrap_or(i64::MAX),
        }
    }

    /// Whether a stream currently at `actual` satisfies this expectation.
    pub(crate) fn admits(self, actual: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual == 0,
            Self::Exact(n) => n == actual,
        }
    }
}

/// Who and what caused an event; stored beside it as JSON and read by auditors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The user, integration or process that caused the event, e.g. `user:4f…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Ties together everything one request or delivery caused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The event or request that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// Where the change came from: `api`, `webhook:stripe`, `process:order-payments`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The idempotency key of the append that wrote the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The HTTP request id, when the change came through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The W3C trace context of the span that appended the event: what it causes later
    /// continues that trace (`eventlog::trace`). Filled in by the append when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// An event to append: its type, schema version and payload, decoupled from any Rust enum.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// A UUIDv7 naming this event everywhere (outbound calls use it as their idempotency key).
    pub event_id: Uuid,
    /// The event type, past tense, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The schema version of the payload (1 or more).
    pub event_version: i32,
    /// The payload.
    pub payload: serde_json::Value,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// Its personal fields, stored sealed with their subject's key (`crate::privacy`).
    pub personal: Option<crate::privacy::Personal>,
}

impl NewEvent {
    /// A new event with a fresh UUIDv7 and empty metadata.
    pub fn new(
        event_type: impl Into<String>,
        event_version: i32,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            event_version,
            payload,
            metadata: Metadata::default(),
            personal: None,
        }
    }

    /// The same event with these personal fields.
    pub fn with_personal(mut self, personal: Option<crate::privacy::Personal>) -> Self {
        self.personal = personal;
        self
    }

    /// The same event with this metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// One append: a stream, the version the caller expects, its events, and optionally a key that
/// makes the append idempotent.
#[derive(Debug, Clone, PartialEq)]
pub struct Append {
    /// The stream appended to.
    pub stream: StreamId,
    /// The version the caller expects the stream to be at.
    pub expected: ExpectedVersion,
    /// The events, in order; an append of several events is atomic.
    pub events: Vec<NewEvent>,
    /// A key already recorded returns the first append's result and writes nothing.
    pub idempotency_key: Option<String>,
}

impl Append {
    /// An append of `events` to `stream` at `expected`, without idempotency key.
    pub fn new(stream: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self {
            stream,
            expected,
            events,
            idempotency_key: None,
        }
    }

    /// Refuses what no backend may store: no events, `Exact(0)`, a version below 1, no type.
    pub(crate) fn validate(&self) -> Result<(), crate::AppendError> {
        use crate::AppendError::Invalid;
        if self.events.is_empty() {
            return Err(Invalid("an append needs at least one event"));
        }
        if self.expected == ExpectedVersion::Exact(0) {
            return Err(Invalid("expected version 0 is written NoStream"));
        }
        if self.events.iter().any(|e| e.event_version < 1) {
            return Err(Invalid("event_version starts at 1"));
        }
        if self.events.iter().any(|e| e.event_type.is_empty()) {
            return Err(Invalid("event_type is empty"));
        }
        Ok(())
    }

    /// The answer to this append when its key already recorded `events` (`None` if it recorded
    /// none): the first result, or a refusal when that was for another stream.
    pub(crate) fn replay_of(
        &self,
        events: Vec<RecordedEvent>,
    ) -> Result<Option<Appended>, crate::AppendError> {
        let Some(first) = events.first() else {
            return Ok(None);
        };
        if first.stream != self.stream {
            return Err(crate::AppendError::DuplicateKey {
                key: self.idempotency_key.clone().unwrap_or_default(),
                recorded_for: first.stream.clone(),
            });
        }
        Ok(Some(Appended {
            stream: self.stream.clone(),
            events,
            replayed: true,
        }))
    }

    /// The same append carrying an idempotency key.
    pub fn idempotent(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Refuses a group of appends no backend may write atomically: none, an invalid one, a stream
/// named twice, or an idempotency key on any but the first (the key names the group).
pub(crate) fn validate_group(appends: &[Append]) -> Result<(), crate::AppendError> {
    use crate::AppendError::Invalid;
    if appends.is_empty() {
        return Err(Invalid("a group needs at least one append"));
    }
    for (index, append) in appends.iter().enumerate() {
        append.validate()?;
        if index > 0 && append.idempotency_key.is_some() {
            return Err(Invalid("only the first append of a group carries a key"));
        }
        if appends[..index].iter().any(|a| a.stream == append.stream) {
            return Err(Invalid("a group names each stream once"));
        }
    }
    Ok(())
}

/// A group's outcomes as its one result: every append written; or, when the first one's key
/// was recorded, that first result alone (nothing of the group is to be kept); or the first
/// refusal.
pub(crate) fn all_or_nothing(
    outcomes: Vec<Result<Appended, crate::AppendError>>,
) -> Result<Vec<Appended>, crate::AppendError> {
    let mut written = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let appended = outcome?;
        if appended.replayed {
            return Ok(vec![appended]);
        }
        written.push(appended);
    }
    if written.is_empty() {
        return Err(crate::AppendError::Invalid(
            "the database answered no outcome",
        ));
    }
    Ok(written)
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedEvent {
    /// The global position: the order in which readers of the whole log see events.
    pub position: i64,
    /// The event's id.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its version within the stream, 1, 2, 3 …
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The payload's schema version.
    pub event_version: i32,
    /// The payload.
    pub payload: serde_json::Value,
    /// Who and what caused it.
    pub metadata: Metadata,
    /// When the log recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// The result of an append: the committed events with their stream versions and positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Appended {
    /// The stream appended to.
    pub stream: StreamId,
    /// The committed events (for a replayed key: those the first append committed).
    pub events: Vec<RecordedEvent>,
    /// True when the idempotency key was already recorded and nothing new was written.
    pub replayed: bool,
}

impl Appended {
    /// The stream version after the append (of its last event).
    pub fn stream_version(&self) -> Option<i64> {
        self.events.last().map(|e| e.sequence)
    }

    /// The global position of the last event appended.
    pub fn last_position(&self) -> Option<i64> {
        self.events.iter().map(|e| e.position).max()
    }
}
