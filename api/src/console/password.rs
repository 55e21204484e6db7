//! Passwords (argon2id, RustCrypto's `argon2` with its default parameters) and the lockout
//! after failed sign-ins: five failures lock an account, twenty a client address (an office
//! behind one address has many people), for 30 s, each further failure doubling that, up to an
//! hour; a success clears the account's, and a quarter of an hour without a failure forgets a
//! subject's count.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use eventlog::{EventLog, StorageError};
use rand::RngCore;

use crate::db::{now_ms, storage};

/// Failures an account may have before it is locked.
pub const ACCOUNT_FAILURES_BEFORE_LOCK: i64 = 5;
/// Failures a client address may have before it is locked.
pub const ADDRESS_FAILURES_BEFORE_LOCK: i64 = 20;

/// The subject counting an account's failures.
pub fn account(name: &str) -> String {
    format!("account:{name}")
}

/// The subject counting a client address's failures.
pub fn address(ip: std::net::IpAddr) -> String {
    format!("address:{ip}")
}

/// How long the first lock lasts; each further failure doubles it, up to [`LOCK_MAX_MS`].
const LOCK_FIRST_MS: i64 = 30_000;
const LOCK_MAX_MS: i64 = 3_600_000;
/// How long without a failure before a subject's count starts again.
pub const FAILURES_FORGOTTEN_AFTER_MS: i64 = 15 * 60_000;

/// Why a password is refused when it is set.
pub fn check_new(password: &str) -> Result<(), &'static str> {
    let length = password.chars().count();
    if length < 12 {
        return Err("a password has at least 12 characters");
    }
    if length > 256 {
        return Err("a password has at most 256 characters");
    }
    Ok(())
}

/// The PHC string of `password` hashed with argon2id and a fresh random salt.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    // 16 bytes always make a valid salt, and hashing with the default parameters cannot fail
    // for a password of at most 256 characters.
    let salt = SaltString::encode_b64(&salt).unwrap_or_else(|_| unreachable!());
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hashed| hashed.to_string())
        .unwrap_or_else(|_| unreachable!())
}

/// Whether `password` matches `stored` (a PHC string); false for a malformed one. Without a
/// stored hash (no such user, or no password set) a hash is still verified, so that the answer
/// takes as long either way.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    // A hash of a password no one has, made once per process.
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("not a password anyone has: decoy"));
    let (phc, real) = match stored {
        Some(stored) => (stored, true),
        None => (decoy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    real && matches
}

/// Until when (Unix ms) `subject` is locked, if it is.
pub async fn locked_until(log: &EventLog, subject: &str) -> Result<Option<i64>, StorageError> {
    let until: Option<i64> = eventlog::on_writer!(log, |pool, _time| sqlx::query_scalar(
        "SELECT locked_until_ms FROM sign_in_failures WHERE subject = $1"
    )
    .bind(subject)
    .fetch_optional(pool)
    .await)
    .map_err(storage("reading sign-in failures"))?;
    Ok(until.filter(|until| *until > now_ms()))
}

/// Counts a failure of `subject`; locks it once it has had its allowance.
pub async fn record_failure(log: &EventLog, subject: &str) -> Result<(), StorageError> {
    let now = now_ms();
    let failures: i64 = eventlog::on_writer!(log, |pool, _time| {
        sqlx::query_scalar(
        "INSERT INTO sign_in_failures (subject, failures, locked_until_ms, last_failure_at_ms) \
         VALUES ($1, 1, 0, $2) \
         ON CONFLICT (subject) DO UPDATE SET \
         failures = CASE WHEN sign_in_failures.last_failure_at_ms < $3 THEN 1 \
         ELSE sign_in_failures.failures + 1 END, last_failure_at_ms = $2 \
         RETURNING failures"
    )
    .bind(subject)
    .bind(now)
    .bind(now - FAILURES_FORGOTTEN_AFTER_MS)
    .fetch_one(pool)
    .await
    })
    .map_err(storage("counting a sign-in failure"))?;
    let allowed = if subject.starts_with("address:") {
        ADDRESS_FAILURES_BEFORE_LOCK
    } else {
        ACCOUNT_FAILURES_BEFORE_LOCK
    };
    if failures >= allowed {
        let doublings = u32::try_from(failures - allowed)
            .unwrap_or(u32::MAX)
            .min(16);
        let lock = LOCK_FIRST_MS
            .saturating_mul(1 << doublings)
            .min(LOCK_MAX_MS);
        eventlog::on_writer!(log, |pool, _time| sqlx::query(
            "UPDATE sign_in_failures SET locked_until_ms = $2 WHERE subject = $1"
        )
        .bind(subject)
        .bind(now + lock)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(storage("locking a sign-in subject"))?;
    }
    Ok(())
}

/// Clears the failures of `subject` after its successful sign-in.
pub async fn clear(log: &EventLog, subject: &str) -> Result<(), StorageError> {
    eventlog::on_writer!(log, |pool, _time| sqlx::query(
        "DELETE FROM sign_in_failures WHERE subject = $1"
    )
    .bind(subject)
    .execute(pool)
    .await
    .map(|_| ()))
    .map_err(storage("clearing sign-in failures"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery staple");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery staple", Some(&stored)));
        assert!(!verify("correct horse battery stapl", Some(&stored)));
        assert!(!verify("correct horse battery staple", None));
        assert!(!verify("anything", Some("not a PHC string")));
        assert_ne!(stored, hash("correct horse battery staple"), "salted");
    }

    #[test]
    fn a_new_password_has_12_to_256_characters() {
        assert!(check_new("short").is_err());
        assert!(check_new("twelve chars").is_ok());
        assert!(check_new(&"x".repeat(257)).is_err());
    }
}
