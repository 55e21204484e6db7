-- Steps a subscriber set aside (ADR 0010): an event whose step failed and waits for its next
-- attempt, waits for an entity that does not exist yet, was parked after its attempts, or was
-- asked to be tried again by a person; and the later events of the same lane, queued behind it
-- in log order. Everything else of the subscriber goes on past them.
CREATE TABLE subscription_steps (
    subscriber      text        NOT NULL,
    position        bigint      NOT NULL,
    lane            text        NOT NULL,
    event_id        text        NOT NULL,
    state           text        NOT NULL
        CHECK (state IN ('queued', 'retrying', 'waiting', 'parked', 'requested')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    set_aside_at    timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (subscriber, position)
);

CREATE INDEX subscription_steps_by_lane ON subscription_steps (subscriber, lane, position);
