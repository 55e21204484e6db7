-- Unmatched deliveries are rechecked with a growing delay and, past an age (7 days unless
-- configured), rest as `unmatched_expired`: still listed and retryable, no longer rechecked.
-- A source is data (the code's list of sources), not a CHECK: adding a source needs no
-- migration.
ALTER TABLE webhook_inbox
    DROP CONSTRAINT webhook_inbox_source_check,
    DROP CONSTRAINT webhook_inbox_status_check,
    ADD CONSTRAINT webhook_inbox_status_check CHECK (status IN
        ('pending', 'done', 'failed', 'dead', 'unmatched', 'unmatched_expired', 'ignored'));

ALTER TABLE webhook_inbox_attempts
    DROP CONSTRAINT webhook_inbox_attempts_outcome_check,
    ADD CONSTRAINT webhook_inbox_attempts_outcome_check CHECK (outcome IN
        ('done', 'failed', 'dead', 'unmatched', 'unmatched_expired', 'ignored'));
