//! Logs and traces. Logs go to standard output, as text or JSON lines. Spans carry W3C trace
//! context always (a `traceparent` that comes in is continued, and one goes out on every
//! outbound call and with every event: `eventlog::trace`); they are exported over OTLP/HTTP
//! only where `otlp_endpoint` is set. Without it no span is sampled unless the caller's
//! `traceparent` says it was, and nothing is sent anywhere.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    trace::{Sampler, SdkTracerProvider, SpanExporter},
    Resource,
};
use tracing_subscriber::{
    layer::SubscriberExt as _, util::SubscriberInitExt as _, EnvFilter, Layer,
};
use url::Url;

use crate::config::LogFormat;

/// What was set up; dropping it sends the spans still buffered.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("traces: could not send the last spans: {error}");
        }
    }
}

/// Why traces cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
#[error("otlp_endpoint: {0}")]
pub struct TelemetryError(String);

/// Installs the process's logs and traces: `format` for the logs, spans exported to
/// `otlp_endpoint` (`http://collector:4318`; `/v1/traces` is added when the path is empty).
pub fn init(format: LogFormat, otlp_endpoint: Option<&Url>) -> Result<Telemetry, TelemetryError> {
    let provider = match otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(traces_url(endpoint))
                .build()
                .map_err(|error| TelemetryError(error.to_string()))?;
            provider(Some(exporter))
        }
        None => provider(None::<opentelemetry_otlp::SpanExporter>),
    };
    install(format, &provider);
    Ok(Telemetry { provider })
}

/// A tracer provider sending to `exporter`; without one, sampling only what a caller's
/// `traceparent` asks for, and dropping that too.
pub fn provider(exporter: Option<impl SpanExporter + 'static>) -> SdkTracerProvider {
    let resource = Resource::builder().with_service_name("backoffice").build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    match exporter {
        Some(exporter) => builder
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .with_batch_exporter(exporter)
            .build(),
        None => builder
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .build(),
    }
}

/// The global subscriber: the log lines and the spans of `provider`.
pub fn install(format: LogFormat, provider: &SdkTracerProvider) {
    // sqlx warns of an unknown URL parameter with its value, which may be a secret
    // (`?sslpassword=`): its URL parser logs errors only.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sqlx_postgres::options::parse=error"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
    };
    let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer("backoffice"));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .init();
}

/// Where spans are posted: the endpoint, with the OTLP traces path if it names none.
fn traces_url(endpoint: &Url) -> String {
    let mut url = endpoint.clone();
    if url.path().trim_end_matches('/').is_empty() {
        url.set_path("/v1/traces");
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_endpoint_without_a_path_gets_the_traces_path() {
        let bare: Url = "http://collector:4318".parse().unwrap();
        let pathed: Url = "http://collector:4318/otlp/v1/traces".parse().unwrap();
        assert_eq!(traces_url(&bare), "http://collector:4318/v1/traces");
        assert_eq!(traces_url(&pathed), "http://collector:4318/otlp/v1/traces");
    }
}
