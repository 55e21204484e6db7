-- Outbound integrations (issue 13, ADR 0011): every attempt to send a message to a partner,
-- the business log of that integration; and each destination's circuit, as its subscriber
-- last saw it, for the status a person reads.
CREATE TABLE outbound_attempts (
    id           bigserial   PRIMARY KEY,
    destination  text        NOT NULL,
    event_id     text        NOT NULL,
    position     bigint      NOT NULL,
    attempted_at timestamptz NOT NULL,
    duration_ms  bigint      NOT NULL,
    outcome      text        NOT NULL
        CHECK (outcome IN ('sent', 'rejected', 'failed', 'throttled')),
    status       integer,
    error        text,
    answer       text
);

CREATE INDEX outbound_attempts_by_message ON outbound_attempts (destination, event_id, id);
CREATE INDEX outbound_attempts_by_time ON outbound_attempts (destination, attempted_at);

CREATE TABLE outbound_circuits (
    destination          text        PRIMARY KEY,
    state                text        NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures integer     NOT NULL,
    open_until           timestamptz,
    last_error           text,
    updated_at           timestamptz NOT NULL
);
