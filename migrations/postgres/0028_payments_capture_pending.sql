-- `payments` rows gain what a capture asked of the provider will take once it confirms it
-- (`capture_pending_minor`); `captured_minor` counts only what the provider confirmed. The table
-- is derived data: it goes, and its projection builds it again from the start of the log.
DROP TABLE IF EXISTS payments;
DELETE FROM subscription_checkpoints WHERE name = 'payments';
