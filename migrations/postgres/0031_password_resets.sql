-- One-time links an admin issues to set a password (ADR 0023): kept as the SHA-256 of their
-- token, with when they expire and when they were used.
CREATE TABLE password_resets (
    token_sha256  TEXT    PRIMARY KEY,
    user_id       TEXT    NOT NULL REFERENCES api_users (user_id),
    created_at_ms bigint  NOT NULL,
    expires_at_ms bigint  NOT NULL,
    used_at_ms    bigint
);
