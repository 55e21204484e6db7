-- What each subscriber is doing, for `backoffice projections status` and the health checks:
-- running or failed, the last error and the position it failed at, when its last batch ran.
ALTER TABLE subscription_checkpoints
    ADD COLUMN state          text        NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'failed')),
    ADD COLUMN last_error     text,
    ADD COLUMN error_position bigint,
    ADD COLUMN last_batch_at  timestamptz;
