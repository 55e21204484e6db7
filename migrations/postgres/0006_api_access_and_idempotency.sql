-- API users, their bearer tokens (only a SHA-256 of each secret is kept), and the responses of
-- POST requests stored under their Idempotency-Key for 24 hours (ADR 0008). Times are Unix
-- milliseconds, the same on both backends.
CREATE TABLE api_users (
    user_id       text   PRIMARY KEY,
    name          text   NOT NULL UNIQUE,
    role          text   NOT NULL CHECK (role IN ('admin', 'operator', 'finance', 'auditor', 'viewer')),
    created_at_ms bigint NOT NULL
);

CREATE TABLE api_tokens (
    token_id      text   PRIMARY KEY,
    user_id       text   NOT NULL REFERENCES api_users (user_id),
    secret_sha256 text   NOT NULL,
    created_at_ms bigint NOT NULL,
    revoked_at_ms bigint
);

CREATE TABLE idempotent_requests (
    actor           text   NOT NULL,
    idempotency_key text   NOT NULL,
    method          text   NOT NULL,
    path            text   NOT NULL,
    request_sha256  text   NOT NULL,
    status          integer,          -- NULL while the first request is in flight
    response_body   text,
    created_at_ms   bigint NOT NULL,
    PRIMARY KEY (actor, idempotency_key)
);
CREATE INDEX idempotent_requests_created ON idempotent_requests (created_at_ms);
