//! The audit trail's integrity and customers' personal data on the command line:
//! `audit verify`, `customers forget`, `keys rewrap` (docs/audit.md, docs/privacy.md).

use api::config::Config;

use super::{connect, connect_with_keys, print};

/// `backoffice audit verify`: the chain and every seal, or the first place they break.
pub(crate) async fn verify(config: &Config) -> anyhow::Result<()> {
    let log = connect(config).await?;
    let trust = api::sealing::verify_trust(config)?;
    for note in &trust.notes {
        print(&format!("note: {note}\n"))?;
    }
    let started = std::time::Instant::now();
    match eventlog::chain::check(&log, &trust.trust).await? {
        Ok(checked) => print(&format!(
            "the chain holds: {} events linked{}{}{}; {}, in {:.1} s\n",
            checked.events,
            checked
                .head
                .map(|(position, link)| format!(
                    " up to position {position} (link {})",
                    hex::encode(link)
                ))
                .unwrap_or_default(),
            match checked.before_chain {
                0 => String::new(),
                n => format!("; {n} earlier events from before the chain, not covered"),
            },
            match checked.not_linked_yet {
                0 => String::new(),
                n => format!("; the latest {n} not linked yet (the chainer follows)"),
            },
            match checked.sealed_up_to {
                None => "no seal yet".to_owned(),
                Some(last) => format!(
                    "{} seals hold, up to position {last}{}",
                    checked.seals,
                    match checked.head.map_or(0, |(head, _)| head - last) {
                        1 => " (the latest event not sealed yet)".to_owned(),
                        n if n > 1 => format!(" (the latest {n} events not sealed yet)"),
                        _ => String::new(),
                    }
                ),
            },
            started.elapsed().as_secs_f64()
        )),
        Err(broken) => anyhow::bail!(
            "the chain breaks at position {}: {}",
            broken.position,
            broken.reason
        ),
    }
}

/// `backoffice customers forget <customer_id>`.
pub(crate) async fn forget(config: &Config, customer_id: &str) -> anyhow::Result<()> {
    let customer = customer_id
        .parse()
        .map_err(|_| anyhow::anyhow!("{customer_id:?} is not a customer id (a UUID)"))?;
    let (log, _keys) = connect_with_keys(config, api::keys::Missing::Refuse).await?;
    let metadata = eventlog::Metadata {
        actor: Some(api::users::command_line_actor()),
        source: Some("cli".to_owned()),
        ..eventlog::Metadata::default()
    };
    let Some(done) = api::forget::forget_customer(&log, customer, metadata).await? else {
        anyhow::bail!("nothing is known of customer {customer_id}");
    };
    print(&format!(
        "Forgot customer {}: {} key(s) destroyed, {} copies erased; \
         recorded at position {}.\n",
        done.customer_id, done.keys_destroyed, done.copies_erased, done.position
    ))
}

/// `backoffice keys rewrap`.
pub(crate) async fn rewrap(config: &Config) -> anyhow::Result<()> {
    let (log, _keys) = connect_with_keys(config, api::keys::Missing::Refuse).await?;
    let count = log.rewrap_subject_keys().await?;
    print(&format!(
        "{count} customer key(s) wrapped again with the current master key.\n"
    ))
}
