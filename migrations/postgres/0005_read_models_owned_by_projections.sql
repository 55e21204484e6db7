-- Read-model tables are now defined by their projections (projections/src/*, ADR 0006), which
-- create them at start-up and rebuild them into shadow tables. The tables of 0004 go, and the
-- `orders` projection starts again from the beginning of the log: read models are derived data.
DROP TABLE IF EXISTS order_lines;
DROP TABLE IF EXISTS orders;
DELETE FROM subscription_checkpoints WHERE name = 'orders';
