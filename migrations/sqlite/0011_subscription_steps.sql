-- Steps a subscriber set aside (ADR 0010): see the PostgreSQL migration of the same number.
-- Times are fixed-width RFC 3339 text, as everywhere on SQLite.
CREATE TABLE subscription_steps (
    subscriber      TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    lane            TEXT    NOT NULL,
    event_id        TEXT    NOT NULL,
    state           TEXT    NOT NULL
        CHECK (state IN ('queued', 'retrying', 'waiting', 'parked', 'requested')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    set_aside_at    TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    PRIMARY KEY (subscriber, position)
);

CREATE INDEX subscription_steps_by_lane ON subscription_steps (subscriber, lane, position);
