//! Sealing the log from `serve` (issue 18; `eventlog::seal`, `eventlog::sealer`): the `[audit]`
//! configuration, the sealer it makes with the service's seal key, and what `backoffice audit
//! verify` trusts and compares the stored seals with (the seal keys, the seals file).

use std::{path::PathBuf, time::Duration};

use ed25519_dalek::{SigningKey, VerifyingKey};
use eventlog::{chain::Trust, sealer::Sealer};
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError};

/// Where the seals files of PostgreSQL databases go by default, and of SQLite databases whose
/// file has no folder.
pub const DEFAULT_SEALS_FOLDER: &str = "./data";

/// `[audit]`: how often the log is sealed, and where each seal is published besides the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Seal once this many linked events wait; a seal covers at most this many (default 1 000).
    pub seal_every_events: u32,
    /// Seal what waits once this many seconds have passed since the last seal (default 60).
    pub seal_every_secs: u64,
    /// The file each seal is appended to as one JSON line; unset: one per database, named
    /// after it ([`AuditConfig::seals_file`]). Ship it somewhere the database's owner cannot
    /// write: `audit verify` compares the stored seals with it.
    pub seals_file: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            seal_every_events: 1_000,
            seal_every_secs: 60,
            seals_file: None,
        }
    }
}

impl AuditConfig {
    /// Refuses a count or a period of zero, and an empty file name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.seal_every_events == 0 {
            return Err(ConfigError::rejected(
                "audit.seal_every_events",
                "must be at least 1",
            ));
        }
        if self.seal_every_secs == 0 {
            return Err(ConfigError::rejected(
                "audit.seal_every_secs",
                "must be at least 1",
            ));
        }
        if self
            .seals_file
            .as_ref()
            .is_some_and(|file| file.as_os_str().is_empty())
        {
            return Err(ConfigError::rejected(
                "audit.seals_file",
                "must name a file",
            ));
        }
        Ok(())
    }

    /// The sealer `serve` runs on `database_url`, signing with `key`.
    pub fn sealer(&self, key: &SigningKey, database_url: &str) -> Sealer {
        let mut sealer = Sealer::new(key.clone());
        sealer.every_events = i64::from(self.seal_every_events);
        sealer.every = Duration::from_secs(self.seal_every_secs);
        sealer.file = Some(self.seals_file(database_url));
        sealer
    }

    /// The seals file of the database at `database_url`: the one configured, else one per
    /// database, so that two databases served from one folder never share one: beside a SQLite
    /// file, named after it (`./data/backoffice.db`: `./data/backoffice.seals.jsonl`); for
    /// PostgreSQL, `./data/seals-<host>-<port>-<database>.jsonl`.
    pub fn seals_file(&self, database_url: &str) -> PathBuf {
        if let Some(file) = &self.seals_file {
            return file.clone();
        }
        let folder = PathBuf::from(DEFAULT_SEALS_FOLDER);
        if let Some(path) = database_url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or_default();
            if !path.is_empty() && !path.starts_with(':') {
                return PathBuf::from(path).with_extension("seals.jsonl");
            }
            return folder.join("seals.jsonl");
        }
        let name = url::Url::parse(database_url)
            .map(|url| {
                let database = url.path().trim_start_matches('/').to_owned();
                let database = match database.as_str() {
                    "" => url.username().to_owned(),
                    _ => database,
                };
                format!(
                    "{}-{}-{database}",
                    url.host_str().unwrap_or("localhost"),
                    url.port().unwrap_or(5432)
                )
            })
            .unwrap_or_default();
        let name: String = name
            .chars()
            .map(
                |c| match c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    true => c,
                    false => '_',
                },
            )
            .collect();
        folder.join(format!("seals-{name}.jsonl"))
    }
}

/// What `backoffice audit verify` checks the seals with.
#[derive(Debug)]
pub struct VerifyTrust {
    /// The trusted keys and the published seals.
    pub trust: Trust,
    /// What the check could not use, for the person running it: keys not loaded, a seals
    /// file missing or with unreadable lines.
    pub notes: Vec<String>,
}

/// The keys `config` trusts (the seal key's own and `keys.trusted_seal_keys`) and the seals in
/// its seals file. Without the service's keys (an auditor's copy of the configuration) only
/// `keys.trusted_seal_keys` are trusted; without the seals file the stored seals are checked
/// against the chain alone. Both are said in the notes.
pub fn verify_trust(config: &Config) -> Result<VerifyTrust, ConfigError> {
    let mut notes = Vec::new();
    let keys = match crate::keys::Keys::load(&config.keys, crate::keys::Missing::Refuse) {
        Ok(keys) => keys.seal_public_keys(),
        Err(error) => {
            notes.push(format!(
                "the service's keys were not loaded ({error}): only keys.trusted_seal_keys are \
                 trusted"
            ));
            trusted_only(config)?
        }
    };
    let path = &config
        .audit
        .seals_file(secrecy::ExposeSecret::expose_secret(&config.database_url));
    let published = match std::fs::read_to_string(path) {
        Ok(text) => {
            let (seals, unreadable) = eventlog::sealer::read_published(&text);
            if !unreadable.is_empty() {
                notes.push(format!(
                    "lines {unreadable:?} of the seals file {} are not seals (a line cut short \
                     by a crash is harmless)",
                    path.display()
                ));
            }
            seals
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            notes.push(format!(
                "no seals file at {}: the stored seals were not compared with a published copy",
                path.display()
            ));
            Vec::new()
        }
        Err(error) => {
            return Err(ConfigError::rejected(
                "audit.seals_file",
                format!("{}: {error}", path.display()),
            ))
        }
    };
    Ok(VerifyTrust {
        trust: Trust { keys, published },
        notes,
    })
}

/// `keys.trusted_seal_keys`, decoded.
fn trusted_only(config: &Config) -> Result<Vec<VerifyingKey>, ConfigError> {
    use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
    config
        .keys
        .trusted_seal_keys
        .iter()
        .map(|text| {
            BASE64
                .decode(text.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                .ok_or_else(|| {
                    ConfigError::rejected(
                        "keys.trusted_seal_keys",
                        "must be base64 of an Ed25519 public key (32 bytes)",
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::AuditConfig;

    #[test]
    fn each_database_has_a_seals_file_of_its_own_unless_one_is_configured() {
        let audit = AuditConfig::default();
        let file = |url: &str| audit.seals_file(url);
        assert_eq!(
            file("sqlite:./data/backoffice.db"),
            PathBuf::from("./data/backoffice.seals.jsonl")
        );
        assert_eq!(
            file("sqlite:///tmp/shop.sqlite?mode=rwc"),
            PathBuf::from("/tmp/shop.seals.jsonl")
        );
        assert_eq!(
            file("postgres://svc:secret@db.internal:6432/backoffice"),
            PathBuf::from("./data/seals-db.internal-6432-backoffice.jsonl")
        );
        assert_eq!(
            file("postgres://ana@localhost"),
            PathBuf::from("./data/seals-localhost-5432-ana.jsonl")
        );
        assert_ne!(
            file("postgres://x@h/one"),
            file("postgres://x@h/two"),
            "two databases never share a file"
        );
        let configured = AuditConfig {
            seals_file: Some(PathBuf::from("/var/log/seals.jsonl")),
            ..AuditConfig::default()
        };
        assert_eq!(
            configured.seals_file("sqlite:./data/backoffice.db"),
            PathBuf::from("/var/log/seals.jsonl")
        );
    }
}
