-- The embedded backend's copy of migrations/postgres/0013: unmatched deliveries may rest as
-- `unmatched_expired`, and a source is data, not a CHECK. SQLite cannot change a CHECK, so both
-- tables are rebuilt: the attempts are set aside first (dropping the inbox would cascade to
-- them), then both tables are made anew and filled again, with their indexes.
CREATE TABLE webhook_inbox_attempts_copy AS SELECT * FROM webhook_inbox_attempts;
DROP TABLE webhook_inbox_attempts;

CREATE TABLE webhook_inbox_new (
    source          TEXT        NOT NULL,
    event_id        TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    headers         TEXT        NOT NULL CHECK (json_valid(headers)),
    received_at     TEXT NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'failed', 'dead', 'unmatched',
                                      'unmatched_expired', 'ignored')),
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    failures        INTEGER     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    next_attempt_at TEXT NOT NULL,
    claim_token     TEXT,
    last_error      TEXT,
    processed_at    TEXT,
    PRIMARY KEY (source, event_id)
);
INSERT INTO webhook_inbox_new SELECT * FROM webhook_inbox;
DROP TABLE webhook_inbox;
ALTER TABLE webhook_inbox_new RENAME TO webhook_inbox;
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at)
    WHERE status IN ('pending', 'failed', 'unmatched');
CREATE INDEX webhook_inbox_received ON webhook_inbox (received_at DESC, source, event_id);
CREATE INDEX webhook_inbox_status ON webhook_inbox (status, received_at DESC);

CREATE TABLE webhook_inbox_attempts (
    source      TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    attempt     INTEGER     NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT        NOT NULL
                CHECK (outcome IN ('done', 'failed', 'dead', 'unmatched', 'unmatched_expired',
                                   'ignored')),
    error       TEXT,
    PRIMARY KEY (source, event_id, attempt),
    FOREIGN KEY (source, event_id) REFERENCES webhook_inbox (source, event_id) ON DELETE CASCADE
);
INSERT INTO webhook_inbox_attempts SELECT * FROM webhook_inbox_attempts_copy;
DROP TABLE webhook_inbox_attempts_copy;
