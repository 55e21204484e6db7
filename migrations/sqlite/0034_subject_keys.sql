-- Keys of data subjects (customers), each sealing that subject's personal fields inside events
-- (crypto-shredding, ADR 0028, eventlog/src/privacy.rs). `wrapped` is the key sealed
-- (AES-256-GCM) by the master key `master_key_id` names; forgetting a subject sets both to
-- NULL, after which its sealed fields read as erased. The events themselves never change.
CREATE TABLE subject_keys (
    key_id        TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    master_key_id TEXT,
    wrapped       TEXT,
    created_at    TEXT NOT NULL,
    forgotten_at  TEXT,
    CHECK ((wrapped IS NULL) = (master_key_id IS NULL)),
    CHECK ((wrapped IS NULL) = (forgotten_at IS NOT NULL))
);

CREATE INDEX subject_keys_by_subject ON subject_keys (subject, created_at);

-- A key is only ever destroyed: it cannot be brought back or given to another subject.
CREATE TRIGGER subject_keys_forget_only BEFORE UPDATE ON subject_keys
WHEN NEW.key_id <> OLD.key_id OR NEW.subject <> OLD.subject
    OR (OLD.wrapped IS NULL AND NEW.wrapped IS NOT NULL)
BEGIN
    SELECT RAISE(ABORT, 'subject keys are only rewrapped or destroyed');
END;

-- An INSERT OR REPLACE deletes without a DELETE trigger firing (as 0021 explains): refused, so
-- that a destroyed key's row is not replaced by one that looks live.
CREATE TRIGGER subject_keys_refuse_replace BEFORE INSERT ON subject_keys
WHEN EXISTS (SELECT 1 FROM subject_keys WHERE key_id = NEW.key_id)
BEGIN
    SELECT RAISE(ABORT, 'subject keys are only rewrapped or destroyed: REPLACE refused');
END;
