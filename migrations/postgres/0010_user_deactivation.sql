-- A deactivated user's tokens are refused; the user stays, so that the events they caused keep
-- naming them.
ALTER TABLE api_users ADD COLUMN deactivated_at_ms bigint;
