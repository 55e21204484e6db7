-- The append-only event log: audit trail and replay source (the embedded backend).
-- Same columns as on PostgreSQL (ADR 0001, 0002). SQLite has one writer at a time, so commit
-- order is position order and readers never skip: no transaction id column is needed.
CREATE TABLE events (
    -- Global position; AUTOINCREMENT so a position is never reused.
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT    NOT NULL UNIQUE,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    -- Stream version, 1, 2, 3 ... per stream; the unique key is the optimistic concurrency guard.
    sequence        INTEGER NOT NULL CHECK (sequence >= 1),
    event_type      TEXT    NOT NULL,
    event_version   INTEGER NOT NULL CHECK (event_version >= 1),
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    metadata        TEXT    NOT NULL CHECK (json_valid(metadata)),
    recorded_at     TEXT    NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (aggregate_type, aggregate_id, sequence)
);

-- An idempotency key, once recorded, names the append it made; a repeat returns that append.
CREATE TABLE event_idempotency_keys (
    idempotency_key TEXT    PRIMARY KEY,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    first_sequence  INTEGER NOT NULL,
    last_sequence   INTEGER NOT NULL,
    recorded_at     TEXT    NOT NULL
);

-- The database itself refuses to change history. SQLite has no TRUNCATE; a DELETE without
-- WHERE (its equivalent) fires the DELETE trigger like any other.
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;

CREATE TRIGGER event_idempotency_keys_refuse_update BEFORE UPDATE ON event_idempotency_keys
BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only: UPDATE refused'); END;

CREATE TRIGGER event_idempotency_keys_refuse_delete BEFORE DELETE ON event_idempotency_keys
BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only: DELETE refused'); END;
