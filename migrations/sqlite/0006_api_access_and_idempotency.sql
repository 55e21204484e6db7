-- API users, their bearer tokens (only a SHA-256 of each secret is kept), and the responses of
-- POST requests stored under their Idempotency-Key for 24 hours (ADR 0008). Times are Unix
-- milliseconds, the same on both backends.
CREATE TABLE api_users (
    user_id       TEXT   PRIMARY KEY,
    name          TEXT   NOT NULL UNIQUE,
    role          TEXT   NOT NULL CHECK (role IN ('admin', 'operator', 'finance', 'auditor', 'viewer')),
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    token_id      TEXT   PRIMARY KEY,
    user_id       TEXT   NOT NULL REFERENCES api_users (user_id),
    secret_sha256 TEXT   NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

CREATE TABLE idempotent_requests (
    actor           TEXT   NOT NULL,
    idempotency_key TEXT   NOT NULL,
    method          TEXT   NOT NULL,
    path            TEXT   NOT NULL,
    request_sha256  TEXT   NOT NULL,
    status          INTEGER,          -- NULL while the first request is in flight
    response_body   text,
    created_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (actor, idempotency_key)
);
CREATE INDEX idempotent_requests_created ON idempotent_requests (created_at_ms);
