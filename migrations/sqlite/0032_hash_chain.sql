-- Each event carries its link in the log's hash chain (issue 18, eventlog/src/integrity.rs):
-- SHA-256 over the link before it, its position, stream version, time and the hash of its
-- canonical content. Written by the append, which assigns positions itself under the single
-- writer. Events from before this migration have none: the chain starts after them.
ALTER TABLE events ADD COLUMN chain_hash BLOB;
