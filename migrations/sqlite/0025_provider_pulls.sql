-- Each pull of a provider's events (what webhooks may have missed): what it fetched, stored new,
-- found in the inbox already, why it stopped short, and where the next one lists from.
CREATE TABLE provider_pulls (
    source      TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT    NOT NULL,
    fetched     INTEGER NOT NULL,
    stored      INTEGER NOT NULL,
    duplicates  INTEGER NOT NULL,
    error       TEXT,
    next_since  INTEGER NOT NULL,
    PRIMARY KEY (source, started_at)
);
