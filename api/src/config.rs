//! Layered configuration: compiled defaults, then `backoffice.toml` if present, then
//! `BACKOFFICE_*` environment variables (and `DATABASE_URL`). Validated once, at start-up.

use std::{net::SocketAddr, path::Path, time::Duration};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The embedded default: a SQLite file under `./data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:./data/backoffice.db";

/// The service's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite:…` (embedded default) or `postgres://…`; may hold a password, so never printed.
    pub database_url: SecretString,
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// Where the metrics are served (`GET /metrics`, Prometheus text format), apart from the
    /// API; empty: no metrics.
    pub metrics_listen: String,
    /// Where spans are exported (OTLP over HTTP, `http://collector:4318`); unset: nowhere.
    #[serde(default)]
    pub otlp_endpoint: Option<url::Url>,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// The most database connections.
    pub max_connections: u32,
    /// Seconds to wait for a database connection before failing.
    pub database_timeout_secs: u64,
    /// Attempts at a failing process step before it is parked for a person (ADR 0010).
    pub step_attempts: i32,
    /// Above this many minor units of its currency a refund asked through the API or the
    /// console awaits a second person's approval (ADR 0026).
    pub refund_approval_above_minor: i64,
    /// Webhook signing secrets per source (`[webhooks]` in the file, or
    /// `BACKOFFICE_WEBHOOKS__STRIPE` …); a source without one answers 503.
    #[serde(default)]
    pub webhooks: adapters::inbound::WebhookSecrets,
    /// What one client may hold of the HTTP server (`[http]`, `BACKOFFICE_HTTP__…`).
    pub http: HttpLimits,
    /// The outbound destinations (`[outbound.erp]` …, `BACKOFFICE_OUTBOUND__ERP__BASE_URL` …),
    /// each off until configured.
    #[serde(default)]
    pub outbound: adapters::outbound::OutboundConfig,
    /// This process's name in the claims it takes; stable across its restarts, and unique
    /// among the processes sharing a database. Unset: the host's name and the listen port.
    #[serde(default)]
    pub process_name: Option<String>,
    /// The seal key and the master key, or where they are kept (`[keys]`, ADR 0028).
    #[serde(default)]
    pub keys: crate::keys::KeysConfig,
    /// How often the log is sealed and where the seals are published (`[audit]`).
    #[serde(default)]
    pub audit: crate::sealing::AuditConfig,
}

/// The HTTP server's limits (ADR 0020).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLimits {
    /// Seconds a connection has to complete a request header (from its first byte; a new
    /// connection, from its start).
    pub header_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept.
    pub idle_timeout_secs: u64,
    /// The most connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// The largest request header block in bytes (larger: 431).
    pub max_header_bytes: usize,
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The compiled defaults, as a provider (secrets are plain here: only the default URL).
#[derive(Debug, Serialize)]
struct Defaults {
    database_url: &'static str,
    listen: &'static str,
    metrics_listen: &'static str,
    log_format: LogFormat,
    max_connections: u32,
    database_timeout_secs: u64,
    step_attempts: i32,
    refund_approval_above_minor: i64,
    http: HttpLimits,
}

const DEFAULTS: Defaults = Defaults {
    database_url: DEFAULT_DATABASE_URL,
    listen: "127.0.0.1:8080",
    metrics_listen: "127.0.0.1:9464",
    log_format: LogFormat::Text,
    max_connections: 10,
    database_timeout_secs: 5,
    step_attempts: 8,
    refund_approval_above_minor: crate::v1::refund_approvals::DEFAULT_APPROVAL_ABOVE_MINOR,
    http: HttpLimits {
        header_timeout_secs: 10,
        idle_timeout_secs: 60,
        max_connections: 4096,
        max_header_bytes: 16 * 1024,
    },
};

/// Why the configuration was refused; the message names the key and where its value came from.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    /// The key, lowercase as in `backoffice.toml`.
    pub key: String,
    /// Why, and where the value came from.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn rejected(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        let key = if error.path.is_empty() {
            "(file)".to_owned()
        } else {
            error.path.join(".").to_lowercase()
        };
        let origin = error
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                Some(source) => format!(" (from {} {source})", m.name),
                None => format!(" (from {})", m.name),
            })
            .unwrap_or_default();
        Self {
            key,
            reason: format!("{}{origin}", error.kind),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (if it exists), then the environment.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file))
    }

    /// The layered sources, for tests that add their own.
    pub fn figment(file: &Path) -> Figment {
        Figment::from(Serialized::defaults(DEFAULTS))
            .merge(Toml::file(file))
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("BACKOFFICE_").split("__"))
    }

    /// Extracts and validates.
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Self = figment.extract()?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Err(error) = self.webhooks.verifiers() {
            return Err(ConfigError::rejected(
                &format!("webhooks.{}", error.source_name),
                error.to_string(),
            ));
        }
        let url = self.database_url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(ConfigError::rejected(
                "database_url",
                format!(
                    "expected sqlite:… or postgres://…, got {}",
                    eventlog::redact_url(url)
                ),
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::rejected(
                "max_connections",
                "must be at least 1",
            ));
        }
        if self.database_timeout_secs == 0 {
            return Err(ConfigError::rejected(
                "database_timeout_secs",
                "must be at least 1",
            ));
        }
        let http = &self.http;
        for (key, value) in [
            ("http.header_timeout_secs", http.header_timeout_secs),
            ("http.idle_timeout_secs", http.idle_timeout_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::rejected(key, "must be at least 1"));
            }
        }
        if http.max_connections == 0 {
            return Err(ConfigError::rejected(
                "http.max_connections",
                "must be at least 1",
            ));
        }
        // hyper's smallest read buffer; a smaller header block would refuse ordinary requests.
        if http.max_header_bytes < 8192 {
            return Err(ConfigError::rejected(
                "http.max_header_bytes",
                "must be at least 8192",
            ));
        }
        if let Some(metrics) = self.metrics_address()? {
            // Port 0 (any free port) twice is two ports.
            if metrics == self.listen && metrics.port() != 0 {
                return Err(ConfigError::rejected(
                    "metrics_listen",
                    "must differ from listen: metrics are not served on the API's address",
                ));
            }
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            if !matches!(endpoint.scheme(), "http" | "https") {
                return Err(ConfigError::rejected(
                    "otlp_endpoint",
                    format!("expected http://… or https://…, got {}", endpoint.scheme()),
                ));
            }
        }
        if self.step_attempts < 1 {
            return Err(ConfigError::rejected("step_attempts", "must be at least 1"));
        }
        if self.refund_approval_above_minor < 0 {
            return Err(ConfigError::rejected(
                "refund_approval_above_minor",
                "must be 0 or more (0: every refund awaits approval)",
            ));
        }
        if let Err((key, why)) = self.outbound.check() {
            return Err(ConfigError::rejected(&format!("outbound.{key}"), why));
        }
        self.audit.validate()?;
        if self.webhooks.unmatched_max_age_hours == Some(0) {
            return Err(ConfigError::rejected(
                "webhooks.unmatched_max_age_hours",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Whether `metrics_listen` is the compiled default (not set, or set to it).
    pub fn metrics_listen_is_default(&self) -> bool {
        self.metrics_listen.trim() == DEFAULTS.metrics_listen
    }

    /// Where the metrics are served; none when `metrics_listen` is empty.
    pub fn metrics_address(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let text = self.metrics_listen.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| {
            ConfigError::rejected(
                "metrics_listen",
                format!("expected an address and port such as 127.0.0.1:9464, or empty for none; got {text:?}"),
            )
        })
    }

    /// How the process managers retry and park their steps.
    pub fn process_options(&self) -> eventlog::SubscriptionOptions {
        eventlog::SubscriptionOptions {
            max_attempts: self.step_attempts,
            ..eventlog::SubscriptionOptions::default()
        }
    }

    /// How the webhook inbox worker paces itself.
    pub fn inbox_options(&self) -> adapters::inbound::WorkerOptions {
        let defaults = adapters::inbound::WorkerOptions::default();
        adapters::inbound::WorkerOptions {
            unmatched_max_age: self
                .webhooks
                .unmatched_max_age_hours
                .map_or(defaults.unmatched_max_age, |hours| {
                    Duration::from_secs(hours.saturating_mul(3600))
                }),
            ..defaults
        }
    }

    /// This process's name: `process_name`, else `<host name>:<listen port>`.
    pub fn process_name(&self) -> String {
        self.process_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                .map(|name| name.trim().to_owned())
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "localhost".to_owned());
            format!("{host}:{}", self.listen.port())
        })
    }

    /// The HTTP server's limits.
    pub fn server_limits(&self) -> crate::server::Limits {
        crate::server::Limits {
            header_timeout: Duration::from_secs(self.http.header_timeout_secs),
            idle_timeout: Duration::from_secs(self.http.idle_timeout_secs),
            max_connections: self.http.max_connections,
            max_header_bytes: self.http.max_header_bytes,
            ..crate::server::Limits::default()
        }
    }

    /// The database connection options.
    pub fn connect_options(&self) -> eventlog::ConnectOptions {
        eventlog::ConnectOptions {
            max_connections: self.max_connections,
            acquire_timeout: Duration::from_secs(self.database_timeout_secs),
            ..eventlog::ConnectOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    // figment's Jail returns its own large error type.
    #![allow(clippy::unwrap_used, clippy::result_large_err)]

    use figment::Jail;

    use super::*;

    /// Runs `test` in a jail (its own folder and environment) without the machine's variables:
    /// a `DATABASE_URL` set where the tests run must not change what they see.
    fn in_clean_jail(test: impl FnOnce(&mut Jail) -> figment::error::Result<()>) {
        Jail::expect_with(|jail| {
            jail.clear_env();
            test(jail)
        });
    }

    #[test]
    fn with_no_configuration_the_service_uses_sqlite_under_data_on_port_8080() {
        in_clean_jail(|_jail| {
            let config = Config::load(Path::new("backoffice.toml")).unwrap();
            assert_eq!(config.database_url.expose_secret(), DEFAULT_DATABASE_URL);
            assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
            assert_eq!(config.log_format, LogFormat::Text);
            Ok(())
        });
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        in_clean_jail(|jail| {
            jail.create_file(
                "backoffice.toml",
                "listen = \"0.0.0.0:9000\"\nmax_connections = 3\n",
            )?;
            jail.set_env("BACKOFFICE_MAX_CONNECTIONS", "7");
            jail.set_env("DATABASE_URL", "postgres://u:secret@db/backoffice");
            let config = Config::load(Path::new("backoffice.toml")).unwrap();
            assert_eq!(config.listen, "0.0.0.0:9000".parse().unwrap());
            assert_eq!(config.max_connections, 7);
            assert_eq!(
                config.database_url.expose_secret(),
                "postgres://u:secret@db/backoffice"
            );
            assert!(
                !format!("{config:?}").contains("secret@"),
                "the URL's password never prints"
            );
            Ok(())
        });
    }

    #[test]
    fn an_invalid_value_is_refused_with_a_message_naming_the_key() {
        in_clean_jail(|jail| {
            jail.set_env("BACKOFFICE_LISTEN", "not-an-address");
            let error = Config::load(Path::new("backoffice.toml")).unwrap_err();
            assert_eq!(error.key, "listen");
            assert!(error.to_string().contains("BACKOFFICE_"), "{error}");
            Ok(())
        });
        in_clean_jail(|jail| {
            jail.set_env("BACKOFFICE_DATABASE_URL", "mysql://localhost/x");
            let error = Config::load(Path::new("backoffice.toml")).unwrap_err();
            assert_eq!(error.key, "database_url");
            Ok(())
        });
        in_clean_jail(|jail| {
            jail.create_file("backoffice.toml", "log_format = \"xml\"\n")?;
            let error = Config::load(Path::new("backoffice.toml")).unwrap_err();
            assert_eq!(error.key, "log_format");
            assert!(error.to_string().contains("backoffice.toml"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn step_attempts_and_the_unmatched_age_reach_the_workers_and_zero_is_refused() {
        in_clean_jail(|jail| {
            jail.create_file(
                "backoffice.toml",
                "step_attempts = 3\n[webhooks]\nunmatched_max_age_hours = 24\n",
            )?;
            let config = Config::load(Path::new("backoffice.toml")).unwrap();
            assert_eq!(config.process_options().max_attempts, 3);
            assert_eq!(
                config.inbox_options().unmatched_max_age,
                Duration::from_secs(24 * 3600)
            );
            Ok(())
        });
        in_clean_jail(|jail| {
            let config = Config::load(Path::new("backoffice.toml")).unwrap();
            assert_eq!(config.process_options().max_attempts, 8);
            assert_eq!(
                config.inbox_options().unmatched_max_age,
                Duration::from_secs(7 * 24 * 3600)
            );
            jail.set_env("BACKOFFICE_STEP_ATTEMPTS", "0");
            let error = Config::load(Path::new("backoffice.toml")).unwrap_err();
            assert_eq!(error.key, "step_attempts");
            Ok(())
        });
    }

    #[test]
    fn http_limits_default_to_the_issue_values_and_are_set_per_key() {
        in_clean_jail(|jail| {
            let limits = Config::load(Path::new("backoffice.toml"))
                .unwrap()
                .server_limits();
            assert_eq!(limits.header_timeout, Duration::from_secs(10));
            assert_eq!(limits.idle_timeout, Duration::from_secs(60));
            assert_eq!(limits.max_connections, 4096);
            jail.create_file("backoffice.toml", "[http]\nidle_timeout_secs = 5\n")?;
            jail.set_env("BACKOFFICE_HTTP__MAX_CONNECTIONS", "16");
            let limits = Config::load(Path::new("backoffice.toml"))
                .unwrap()
                .server_limits();
            assert_eq!(limits.idle_timeout, Duration::from_secs(5));
            assert_eq!(limits.header_timeout, Duration::from_secs(10));
            assert_eq!(limits.max_connections, 16);
            jail.set_env("BACKOFFICE_HTTP__HEADER_TIMEOUT_SECS", "0");
            let error = Config::load(Path::new("backoffice.toml")).unwrap_err();
            assert_eq!(error.key, "http.header_timeout_secs");
            Ok(())
        });
    }

    #[test]
    fn metrics_are_served_apart_from_the_api_unless_turned_off_and_traces_go_nowhere_by_default() {
        in_clean_jail(|jail| {
            let config = Config::load(Path::new("backoffice.toml")).unwrap();
            assert_eq!(
                config.metrics_address().unwrap(),
                Some("127.0.0.1:9464".parse().unwrap())
            );
            assert_eq!(config.otlp_endpoint, None);
            jail.set_env("BACKOFFICE_METRICS_LISTEN", "");
            jail.set_env("BACKOFFICE_OTLP_ENDPOINT", "http://collector:4318");
            let config = Config::load(Path::new("backoffice.toml")).unwrap();
            assert_eq!(config.metrics_address().unwrap(), None);
            assert_eq!(
                config.otlp_endpoint.map(String::from).as_deref(),
                Some("http://collector:4318/")
            );
            Ok(())
        });
        for (key, value, refused) in [
            ("BACKOFFICE_METRICS_LISTEN", "9464", "metrics_listen"),
            (
                "BACKOFFICE_METRICS_LISTEN",
                "127.0.0.1:8080",
                "metrics_listen",
            ),
            (
                "BACKOFFICE_OTLP_ENDPOINT",
                "grpc://collector:4317",
                "otlp_endpoint",
            ),
            ("BACKOFFICE_OTLP_ENDPOINT", "not a url", "otlp_endpoint"),
        ] {
            in_clean_jail(|jail| {
                jail.set_env(key, value);
                let error = Config::load(Path::new("backoffice.toml")).unwrap_err();
                assert_eq!(error.key, refused, "{value}: {error}");
                Ok(())
            });
        }
    }

    #[test]
    fn an_unknown_key_is_refused_rather_than_ignored() {
        in_clean_jail(|jail| {
            jail.create_file("backoffice.toml", "listne = \"127.0.0.1:1\"\n")?;
            let error = Config::load(Path::new("backoffice.toml"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("listne"), "{error}");
            Ok(())
        });
    }
}
