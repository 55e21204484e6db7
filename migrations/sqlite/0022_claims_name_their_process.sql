-- An idempotency key in flight names the process that claimed it, so that the process, when
-- it starts again after a crash, releases the keys it held instead of leaving their retries a
-- 409 for 35 s (issue 12). Keys claimed before this migration name none and wait as before.
ALTER TABLE idempotent_requests ADD COLUMN claimed_by text;
