//! Database URLs in messages, without their secrets.

/// Query parameters of a database URL that are shown in messages; any other one's value
/// (`password`, `sslpassword`, whatever a driver adds) is hidden.
const SHOWN_URL_PARAMETERS: &[&str] = &[
    "application_name",
    "cache",
    "connect_timeout",
    "dbname",
    "host",
    "immutable",
    "mode",
    "port",
    "sslmode",
    "sslrootcert",
    "statement-cache-capacity",
    "target_session_attrs",
    "user",
    "vfs",
];

/// The URL without its secrets, for messages: the password of its user part, and the value
/// of every query parameter not known to be harmless, are `***`; a URL that does not parse
/// shows its scheme only.
pub fn redact_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        let scheme = text.split(':').next().unwrap_or_default();
        return format!("{scheme}:(unparsable URL, not shown)");
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let shown = SHOWN_URL_PARAMETERS.contains(&key.to_ascii_lowercase().as_str());
                let value = if shown {
                    value.into_owned()
                } else {
                    "***".to_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if url.fragment().is_some() {
        url.set_fragment(Some("***"));
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn a_password_is_never_shown_wherever_it_is_in_the_url() {
        for (url, shown) in [
            (
                "postgres://app:hunter2@db:5432/bo",
                "postgres://app:***@db:5432/bo",
            ),
            (
                "postgres://app@db/bo?password=hunter2&sslmode=require",
                "postgres://app@db/bo?password=***&sslmode=require",
            ),
            (
                "postgres://app@db/bo?PassWord=hunter2",
                "postgres://app@db/bo?PassWord=***",
            ),
            (
                "postgres://app@db/bo?pass%77ord=hunter2",
                "postgres://app@db/bo?password=***",
            ),
            (
                "postgres://app@db/bo?sslpassword=hunter2",
                "postgres://app@db/bo?sslpassword=***",
            ),
            ("postgres://app@db/bo#hunter2", "postgres://app@db/bo#***"),
            ("sqlite:./data/backoffice.db", "sqlite:./data/backoffice.db"),
            (
                "postgres://app:hunter2@[::1",
                "postgres:(unparsable URL, not shown)",
            ),
        ] {
            let redacted = redact_url(url);
            assert_eq!(redacted, shown);
            assert!(!redacted.contains("hunter2"));
        }
    }
}
