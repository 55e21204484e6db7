-- The log's hash chain on PostgreSQL (issue 18, ADR 0027; eventlog/src/integrity.rs): one link
-- per event, SHA-256 over the link before it, the event's position, stream version, time and
-- canonical content. PostgreSQL commits appends out of position order (ADR 0001), so the links
-- are written by the chainer, a reader of the whole log that sees events only once every
-- position before them is settled, in position order; an appended event is linked within the
-- chainer's lag. Like the log, the links are append-only.
CREATE TABLE event_links (
    "position" bigint PRIMARY KEY,
    link       bytea  NOT NULL CHECK (octet_length(link) = 32)
);

COMMENT ON TABLE event_links IS 'The hash chain over events; UPDATE, DELETE and TRUNCATE are refused by triggers.';

CREATE TRIGGER event_links_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON event_links
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
