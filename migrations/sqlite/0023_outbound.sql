-- Outbound integrations (issue 13, ADR 0011): every attempt to send a message to a partner,
-- the business log of that integration; and each destination's circuit, as its subscriber
-- last saw it, for the status a person reads.
CREATE TABLE outbound_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    destination  TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    attempted_at TEXT    NOT NULL,
    duration_ms  INTEGER NOT NULL,
    outcome      TEXT    NOT NULL
        CHECK (outcome IN ('sent', 'rejected', 'failed', 'throttled')),
    status       INTEGER,
    error        TEXT,
    answer       TEXT
);

CREATE INDEX outbound_attempts_by_message ON outbound_attempts (destination, event_id, id);
CREATE INDEX outbound_attempts_by_time ON outbound_attempts (destination, attempted_at);

CREATE TABLE outbound_circuits (
    destination          TEXT    PRIMARY KEY,
    state                TEXT    NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures INTEGER NOT NULL,
    open_until           TEXT,
    last_error           TEXT,
    updated_at           TEXT    NOT NULL
);
