-- Where each subscriber of the log (process manager, projection, outbound integration) has
-- read it to. A subscriber's effects are idempotent or written in the same transaction as its
-- checkpoint, so replaying from an older checkpoint changes nothing.
CREATE TABLE subscription_checkpoints (
    name       TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL CHECK (position >= 0),
    updated_at TEXT    NOT NULL
);
