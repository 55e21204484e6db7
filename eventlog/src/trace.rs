//! W3C trace context through the log. An event carries, in its metadata, the `traceparent`
//! of the span that appended it; whatever the event causes later and elsewhere (a process
//! step, an outbound call, a webhook delivery's commands) continues that trace, so that one
//! request can be followed across the subscribers and integrations it sets off.
//!
//! Spans get trace ids from the OpenTelemetry layer the binary installs; without one there is
//! no trace and these functions do nothing.

use opentelemetry::{
    propagation::{Extractor, Injector, TextMapPropagator},
    trace::TraceContextExt,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and metadata field) that carries a trace context.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current span, if it belongs to a trace.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The `traceparent` of `span`, if it belongs to a trace.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = Carrier(None);
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.0
}

/// Makes `span` continue the trace `traceparent` names; a missing or unreadable one leaves
/// `span` where it is.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let context = TraceContextPropagator::new().extract(&Carrier(Some(traceparent.to_owned())));
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// A carrier of the one header this module reads and writes.
struct Carrier(Option<String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        if key == TRACEPARENT {
            self.0.as_deref()
        } else {
            None
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}
