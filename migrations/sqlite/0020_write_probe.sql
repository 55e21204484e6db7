-- One row that readiness writes, only after an append failed for want of storage (a full
-- disk), to learn whether writes pass again (issue 12).
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TEXT NOT NULL
);
