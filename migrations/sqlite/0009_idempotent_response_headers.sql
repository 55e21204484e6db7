-- A kept response's headers a retry needs again (Location, X-Position), as a JSON object.
ALTER TABLE idempotent_requests ADD COLUMN response_headers TEXT;
