//! The service's keys (ADR 0028): the Ed25519 key that signs the audit seals, and the master
//! key that wraps every data subject's key (crypto-shredding).
//!
//! Each comes from the configuration (`[keys] seal_key`, `master_key`: base64 of 32 random
//! bytes; `BACKOFFICE_KEYS__SEAL_KEY` …) or, when not configured, from the keys file
//! (`[keys] file`, default `./data/keys.toml`, readable by its owner only). `serve` and `demo`
//! create that file with fresh keys the first time; every process sharing a database must hold
//! the same keys. Earlier keys, after a rotation, are listed in `previous_master_keys` (until
//! `backoffice keys rewrap` has moved every subject key) and `trusted_seal_keys` (public keys
//! whose seals `audit verify` still accepts).

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// The default keys file, beside the embedded default database.
pub const DEFAULT_KEYS_FILE: &str = "./data/keys.toml";

/// `[keys]` in the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The seed of the Ed25519 key signing the audit seals (base64 of 32 bytes).
    #[serde(default)]
    pub seal_key: Option<SecretString>,
    /// The master key wrapping the subject keys (base64 of 32 bytes).
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// Master keys before a rotation, still unwrapping what they wrapped.
    #[serde(default)]
    pub previous_master_keys: Vec<SecretString>,
    /// Public keys (base64 of 32 bytes) of earlier seal keys whose seals stay valid.
    #[serde(default)]
    pub trusted_seal_keys: Vec<String>,
    /// Where the keys not configured above are kept; unset: [`DEFAULT_KEYS_FILE`].
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// The keys file's contents.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    seal_key: String,
    master_key: String,
}

/// The loaded keys.
pub struct Keys {
    /// Signs the audit seals.
    pub seal: SigningKey,
    /// Public keys whose seals verify besides the seal key's own.
    pub trusted_seal_keys: Vec<VerifyingKey>,
    /// The current master key.
    master: [u8; 32],
    /// Master keys before a rotation.
    previous_masters: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("seal", &BASE64.encode(self.seal.verifying_key().as_bytes()))
            .field("trusted_seal_keys", &self.trusted_seal_keys.len())
            .finish_non_exhaustive()
    }
}

/// Whether a missing keys file may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it with fresh keys (`serve`, `demo`).
    Create,
    /// Refuse: reading with new keys would only find everything erased or unsigned.
    Refuse,
}

impl Keys {
    /// The keys `config` names, the rest from its keys file.
    pub fn load(config: &KeysConfig, missing: Missing) -> Result<Self, ConfigError> {
        let file = config
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYS_FILE));
        let from_file = if config.seal_key.is_none() || config.master_key.is_none() {
            Some(read_or_create(&file, missing)?)
        } else {
            None
        };
        let seal = match (&config.seal_key, &from_file) {
            (Some(key), _) => decode("keys.seal_key", key.expose_secret())?,
            (None, Some(file_keys)) => decode("keys.file", &file_keys.seal_key)?,
            (None, None) => unreachable_keys()?,
        };
        let master = match (&config.master_key, &from_file) {
            (Some(key), _) => decode("keys.master_key", key.expose_secret())?,
            (None, Some(file_keys)) => decode("keys.file", &file_keys.master_key)?,
            (None, None) => unreachable_keys()?,
        };
        let previous_masters = config
            .previous_master_keys
            .iter()
            .map(|key| decode("keys.previous_master_keys", key.expose_secret()))
            .collect::<Result<_, _>>()?;
        let trusted_seal_keys = config
            .trusted_seal_keys
            .iter()
            .map(|key| {
                let bytes = decode("keys.trusted_seal_keys", key)?;
                VerifyingKey::from_bytes(&bytes).map_err(|_| {
                    ConfigError::rejected("keys.trusted_seal_keys", "not an Ed25519 public key")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            seal: SigningKey::from_bytes(&seal),
            trusted_seal_keys,
            master,
            previous_masters,
        })
    }

    /// Fresh random keys, kept nowhere (tests).
    pub fn random() -> Self {
        Self {
            seal: SigningKey::from_bytes(&random_key()),
            trusted_seal_keys: Vec::new(),
            master: random_key(),
            previous_masters: Vec::new(),
        }
    }

    /// The master keys, as the log seals and opens personal data with them.
    pub fn vault(&self) -> eventlog::privacy::Vault {
        eventlog::privacy::Vault::new(&self.master, &self.previous_masters)
    }

    /// The public keys whose seals are genuine: the seal key's own, then the trusted ones.
    pub fn seal_public_keys(&self) -> Vec<VerifyingKey> {
        std::iter::once(self.seal.verifying_key())
            .chain(self.trusted_seal_keys.iter().copied())
            .collect()
    }

    /// A new keys file's text, with fresh keys (`backoffice keys generate`).
    pub fn generate_file() -> String {
        let file = KeysFile {
            seal_key: BASE64.encode(random_key()),
            master_key: BASE64.encode(random_key()),
        };
        toml_text(&file)
    }
}

fn unreachable_keys<T>() -> Result<T, ConfigError> {
    Err(ConfigError::rejected(
        "keys",
        "no key configured and no keys file read",
    ))
}

fn random_key() -> [u8; 32] {
    let mut key = [0; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

fn toml_text(file: &KeysFile) -> String {
    format!(
        "# backoffice's keys (ADR 0028): keep this file secret and backed up apart from the\n\
         # database. Losing master_key makes every customer's sealed data unreadable.\n\
         seal_key = \"{}\"\nmaster_key = \"{}\"\n",
        file.seal_key, file.master_key
    )
}

fn decode(key: &str, text: &str) -> Result<[u8; 32], ConfigError> {
    BASE64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| ConfigError::rejected(key, "must be base64 of 32 bytes"))
}

fn read_or_create(path: &Path, missing: Missing) -> Result<KeysFile, ConfigError> {
    let shown = path.display();
    match std::fs::read_to_string(path) {
        Ok(text) => figment::Figment::from(
            <figment::providers::Toml as figment::providers::Format>::string(&text),
        )
        .extract()
        .map_err(|e| ConfigError::rejected("keys.file", format!("{shown}: {e}"))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => match missing {
            Missing::Create => create(path),
            Missing::Refuse => Err(ConfigError::rejected(
                "keys.file",
                format!(
                    "{shown} does not exist and keys.seal_key/keys.master_key are not set: \
                     name the service's keys file (BACKOFFICE_KEYS__FILE) or its keys"
                ),
            )),
        },
        Err(error) => Err(ConfigError::rejected(
            "keys.file",
            format!("{shown}: {error}"),
        )),
    }
}

fn create(path: &Path) -> Result<KeysFile, ConfigError> {
    use std::io::Write as _;
    let shown = path.display();
    let failed = |e: std::io::Error| ConfigError::rejected("keys.file", format!("{shown}: {e}"));
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(failed)?;
    }
    let file = KeysFile {
        seal_key: BASE64.encode(random_key()),
        master_key: BASE64.encode(random_key()),
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(path).map_err(failed)?;
    out.write_all(toml_text(&file).as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(failed)?;
    tracing::info!(file = %shown, "created the keys file with fresh keys");
    Ok(file)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_keys_file_is_created_once_and_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("keys-{}", uuid::Uuid::new_v4()));
        let config = KeysConfig {
            file: Some(dir.join("keys.toml")),
            ..KeysConfig::default()
        };
        assert!(Keys::load(&config, Missing::Refuse).is_err());
        let made = Keys::load(&config, Missing::Create).unwrap();
        let again = Keys::load(&config, Missing::Refuse).unwrap();
        assert_eq!(made.seal.to_bytes(), again.seal.to_bytes());
        assert_eq!(made.master, again.master);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("keys.toml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn configured_keys_win_and_bad_ones_are_named() {
        let key = BASE64.encode([9u8; 32]);
        let config = KeysConfig {
            seal_key: Some(key.clone().into()),
            master_key: Some(key.into()),
            file: Some(PathBuf::from("/nonexistent/keys.toml")),
            ..KeysConfig::default()
        };
        let keys = Keys::load(&config, Missing::Refuse).unwrap();
        assert_eq!(keys.master, [9; 32]);
        let bad = KeysConfig {
            master_key: Some("c2hvcnQ=".to_owned().into()),
            ..config
        };
        let error = Keys::load(&bad, Missing::Refuse).unwrap_err();
        assert_eq!(error.key, "keys.master_key");
    }
}
