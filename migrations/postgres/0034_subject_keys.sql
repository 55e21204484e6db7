-- Keys of data subjects (customers), each sealing that subject's personal fields inside events
-- (crypto-shredding, ADR 0028, eventlog/src/privacy.rs). `wrapped` is the key sealed
-- (AES-256-GCM) by the master key `master_key_id` names; forgetting a subject sets both to
-- NULL, after which its sealed fields read as erased. The events themselves never change.
CREATE TABLE subject_keys (
    key_id        TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    master_key_id TEXT,
    wrapped       TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    forgotten_at  TIMESTAMPTZ,
    CHECK ((wrapped IS NULL) = (master_key_id IS NULL)),
    CHECK ((wrapped IS NULL) = (forgotten_at IS NOT NULL))
);

CREATE INDEX subject_keys_by_subject ON subject_keys (subject, created_at);

-- A key is only ever destroyed: it cannot be brought back or given to another subject.
CREATE FUNCTION subject_keys_forget_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key_id <> OLD.key_id OR NEW.subject <> OLD.subject
        OR (OLD.wrapped IS NULL AND NEW.wrapped IS NOT NULL) THEN
        RAISE EXCEPTION 'subject keys are only rewrapped or destroyed';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER subject_keys_forget_only BEFORE UPDATE ON subject_keys
FOR EACH ROW EXECUTE FUNCTION subject_keys_forget_only();
