-- Seals over the hash chain (issue 18, eventlog/src/seal.rs): each signs, with the service's
-- Ed25519 key, the link of its last position (the head) and the RFC 6962 Merkle root over the
-- links of the events in its range (`leaves` of them: a position no event holds, drawn by an
-- append that rolled back, is no leaf), which follows the previous seal's without a gap; the
-- signed message also holds the previous seal's signature. Written by the sealer (one process at
-- a time, under the claim `audit-seal`), which also publishes each seal outside this table (an
-- AuditSealed event, a line of the seals file). Like the log, append-only; the service role may
-- only read and add to it (`backoffice db grant`).
CREATE TABLE audit_seals (
    number             bigint      PRIMARY KEY CHECK (number >= 1),
    first_position     bigint      NOT NULL UNIQUE,
    last_position      bigint      NOT NULL CHECK (last_position >= first_position),
    leaves             bigint      NOT NULL CHECK (leaves >= 1),
    head               bytea       NOT NULL CHECK (octet_length(head) = 32),
    root               bytea       NOT NULL CHECK (octet_length(root) = 32),
    sealed_at          timestamptz NOT NULL,
    public_key         bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    -- The previous seal's signature; none for the first seal.
    previous_signature bytea       CHECK (octet_length(previous_signature) = 64),
    signature          bytea       NOT NULL CHECK (octet_length(signature) = 64)
);

COMMENT ON TABLE audit_seals IS 'Signed seals over the hash chain; UPDATE, DELETE and TRUNCATE are refused by triggers.';

CREATE TRIGGER audit_seals_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_seals
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
