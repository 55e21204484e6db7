//! The command line's shared steps: connecting (with the service's keys, ADR 0028) and
//! printing. Each group of commands beside `serve` has its module.

pub(crate) mod integrity;
pub(crate) mod status;

use anyhow::Context as _;
use api::config::Config;
use secrecy::ExposeSecret;

pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("while printing")
}

/// [`connect`], with the service's keys (ADR 0028): the log seals and opens personal data
/// with the master key, and refuses to go on if live subject keys are wrapped by another.
pub(crate) async fn connect_with_keys(
    config: &Config,
    missing: api::keys::Missing,
) -> anyhow::Result<(eventlog::EventLog, api::keys::Keys)> {
    let keys = api::keys::Keys::load(&config.keys, missing)?;
    let log = connect(config).await?.with_vault(keys.vault());
    let unknown = log
        .unknown_master_keys()
        .await
        .context("while checking the master keys in use")?;
    if !unknown.is_empty() {
        anyhow::bail!(
            "customers' keys in this database are wrapped by master key(s) {} that this \
             process does not hold: start it with the same keys as the others (keys.file or \
             keys.master_key), listing earlier ones in keys.previous_master_keys",
            unknown.join(", ")
        );
    }
    if missing == api::keys::Missing::Create {
        log.register_master_key()
            .await
            .context("while recording the master key in use")?;
        let trusted = keys.seal_public_keys();
        if let Some(last) = eventlog::seal::last(&log)
            .await
            .context("while reading the last seal")?
        {
            if !trusted.iter().any(|key| key.as_bytes() == &last.public_key) {
                anyhow::bail!(
                    "seal {} was signed by another seal key than this process's: start it with \
                     the same keys as the others (keys.file or keys.seal_key), or list the \
                     earlier key's public key in keys.trusted_seal_keys after a rotation",
                    last.number
                );
            }
        }
    }
    Ok((log, keys))
}

/// Connects and makes sure the schema is current: the schema's owner (the embedded default,
/// a one-role set-up) migrates and creates the read-model tables; a service role that may
/// only read and append (ADR 0021) checks that the owner did, and refuses to go on otherwise.
pub(crate) async fn connect(config: &Config) -> anyhow::Result<eventlog::EventLog> {
    let url = config.database_url.expose_secret();
    let log = eventlog::EventLog::connect(url, &config.connect_options())
        .await
        .with_context(|| format!("while connecting to {}", eventlog::redact_url(url)))?;
    let owner = log
        .can_migrate()
        .await
        .context("while asking whether this role owns the schema")?;
    if owner {
        log.migrate().await.context("while applying migrations")?;
        projections::create_tables(&log)
            .await
            .context("while creating read-model tables")?;
        return Ok(log);
    }
    let current = log
        .migrations_applied()
        .await
        .context("while checking the schema's migrations")?;
    let missing = projections::missing_tables(&log)
        .await
        .context("while checking the read-model tables")?;
    if !current || !missing.is_empty() {
        anyhow::bail!(
            "the database schema is not current ({}) and this role does not own it: run \
             `backoffice migrate` as the schema's owner role first",
            if current {
                format!("read-model tables missing: {}", missing.join(", "))
            } else {
                "migrations pending".to_owned()
            }
        );
    }
    tracing::debug!("schema current; not migrating under a role that does not own it");
    Ok(log)
}
