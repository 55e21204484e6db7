-- Two read models change their tables and are built again from the start of the log.
--
-- `daily_sales` rows now keep the position of the last event they counted (`through_position`),
-- so that events delivered again after a checkpoint is moved back are not counted twice. The
-- table is derived data: it goes, and its projection builds it again from the start of the
-- log with the new column (as migration 0005 did for the orders tables).
DROP TABLE IF EXISTS daily_sales;
DELETE FROM subscription_checkpoints WHERE name = 'daily_sales';

-- `payments` rows gain the id of the payment's latest capture (`charge_id`): a Stripe dispute
-- or refund whose payment intent is null finds its payment by the charge. Built again likewise.
DROP TABLE IF EXISTS payments;
DELETE FROM subscription_checkpoints WHERE name = 'payments';
