-- `payments` rows gain what refunds asked of the provider hold back until it answers
-- (`refund_pending_minor`); `refunded_minor` counts only what the provider confirmed. The table
-- is derived data: it goes, and its projection builds it again from the start of the log.
DROP TABLE IF EXISTS payments;
DELETE FROM subscription_checkpoints WHERE name = 'payments';
