-- Each pull of a provider's events (what webhooks may have missed): what it fetched, stored new,
-- found in the inbox already, why it stopped short, and where the next one lists from.
CREATE TABLE provider_pulls (
    source      text        NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    fetched     bigint      NOT NULL,
    stored      bigint      NOT NULL,
    duplicates  bigint      NOT NULL,
    error       text,
    next_since  bigint      NOT NULL,
    PRIMARY KEY (source, started_at)
);
