-- What each subscriber is doing, for `backoffice projections status` and the health checks:
-- running or failed, the last error and the position it failed at, when its last batch ran.
ALTER TABLE subscription_checkpoints
    ADD COLUMN state TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'failed'));
ALTER TABLE subscription_checkpoints ADD COLUMN last_error TEXT;
ALTER TABLE subscription_checkpoints ADD COLUMN error_position INTEGER;
ALTER TABLE subscription_checkpoints ADD COLUMN last_batch_at TEXT;
