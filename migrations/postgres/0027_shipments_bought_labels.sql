-- `shipments` rows gain the label bought at the carrier integration (its URL, carrier, service,
-- cost and the integration's shipment id) and whether one is being bought. The tables are
-- derived data: they go, and the projection builds them again from the start of the log.
DROP TABLE IF EXISTS shipment_tracking;
DROP TABLE IF EXISTS shipment_lines;
DROP TABLE IF EXISTS shipments;
DELETE FROM subscription_checkpoints WHERE name = 'shipments';
