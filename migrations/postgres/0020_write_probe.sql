-- One row that readiness writes, only after an append failed for want of storage (the
-- server's disk full, the server unreachable), to learn whether writes pass again (issue 12).
CREATE TABLE write_probe (
    id integer PRIMARY KEY CHECK (id = 1),
    probed_at timestamptz NOT NULL
);
