-- Seals over the hash chain (issue 18, eventlog/src/seal.rs): each signs, with the service's
-- Ed25519 key, the link of its last position (the head) and the RFC 6962 Merkle root over the
-- links of the events in its range (`leaves` of them: a position no event holds, drawn by an
-- append that rolled back, is no leaf), which follows the previous seal's without a gap; the
-- signed message also holds the previous seal's signature. Written by the sealer, which also
-- publishes each seal outside this table (an AuditSealed event, a line of the seals file).
-- Append-only, like the log: changes are refused by triggers, a REPLACE too (it would delete
-- without a DELETE trigger firing, as 0021 explains).
CREATE TABLE audit_seals (
    number             INTEGER PRIMARY KEY CHECK (number >= 1),
    first_position     INTEGER NOT NULL UNIQUE,
    last_position      INTEGER NOT NULL CHECK (last_position >= first_position),
    leaves             INTEGER NOT NULL CHECK (leaves >= 1),
    head               BLOB    NOT NULL CHECK (length(head) = 32),
    root               BLOB    NOT NULL CHECK (length(root) = 32),
    -- Fixed-width RFC 3339 text in UTC, to the microsecond, as events.recorded_at.
    sealed_at          TEXT    NOT NULL,
    public_key         BLOB    NOT NULL CHECK (length(public_key) = 32),
    -- The previous seal's signature; none for the first seal.
    previous_signature BLOB    CHECK (length(previous_signature) = 64),
    signature          BLOB    NOT NULL CHECK (length(signature) = 64)
);

CREATE TRIGGER audit_seals_refuse_update BEFORE UPDATE ON audit_seals
BEGIN SELECT RAISE(ABORT, 'seals are append-only: UPDATE refused'); END;

CREATE TRIGGER audit_seals_refuse_delete BEFORE DELETE ON audit_seals
BEGIN SELECT RAISE(ABORT, 'seals are append-only: DELETE refused'); END;

CREATE TRIGGER audit_seals_refuse_replace BEFORE INSERT ON audit_seals
WHEN EXISTS (
    SELECT 1 FROM audit_seals
    WHERE number = NEW.number OR first_position = NEW.first_position
)
BEGIN SELECT RAISE(ABORT, 'seals are append-only: REPLACE refused'); END;
