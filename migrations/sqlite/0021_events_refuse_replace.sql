-- REPLACE (and INSERT OR REPLACE) deletes the row it collides with and inserts another, and
-- SQLite fires no DELETE trigger for that delete (unless recursive_triggers is on, which a
-- connection chooses for itself): a stored event could be rewritten past the triggers of
-- 0001 (issue 12). An insert that collides with a stored event or key is refused before
-- any conflict resolution runs. A plain INSERT that collides fails either way; its message
-- still names `events.event_id` for a repeated event id, as the log reports it.

CREATE TRIGGER events_refuse_replace_by_event_id BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
BEGIN SELECT RAISE(ABORT, 'events are append-only: events.event_id exists, REPLACE refused'); END;

CREATE TRIGGER events_refuse_replace BEFORE INSERT ON events
WHEN EXISTS (
    SELECT 1 FROM events
    WHERE position = NEW.position
       OR (aggregate_type = NEW.aggregate_type AND aggregate_id = NEW.aggregate_id
           AND sequence = NEW.sequence)
)
BEGIN SELECT RAISE(ABORT, 'events are append-only: REPLACE refused'); END;

CREATE TRIGGER event_idempotency_keys_refuse_replace BEFORE INSERT ON event_idempotency_keys
WHEN EXISTS (
    SELECT 1 FROM event_idempotency_keys
    WHERE idempotency_key = NEW.idempotency_key OR rowid = NEW.rowid
)
BEGIN SELECT RAISE(ABORT, 'idempotency keys are append-only: REPLACE refused'); END;
