-- The console's sign-in (ADR 0023): a password per user (an argon2id PHC string; none until one
-- is set), sessions kept as the SHA-256 of their cookie's token with their CSRF token, and
-- failed sign-ins per subject (`account:{name}`, `address:{ip}`) with the lock they earned and
-- when the last one was (a quiet quarter of an hour forgets the count).
ALTER TABLE api_users ADD COLUMN password_hash TEXT;

CREATE TABLE console_sessions (
    session_sha256 TEXT    PRIMARY KEY,
    user_id        TEXT    NOT NULL REFERENCES api_users (user_id),
    csrf_token     TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    ended_at_ms    INTEGER
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

CREATE TABLE sign_in_failures (
    subject         TEXT    PRIMARY KEY,
    failures           INTEGER NOT NULL,
    locked_until_ms    INTEGER NOT NULL,
    last_failure_at_ms INTEGER NOT NULL
);
