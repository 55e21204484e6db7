-- The append-only event log: audit trail and replay source.
-- Column names follow postgres-es (aggregate_type, aggregate_id, sequence, event_type,
-- event_version, payload, metadata) so SQL written against that layout reads this table;
-- `position`, `event_id`, `transaction_id` and `recorded_at` are our additions (ADR 0001).
CREATE TABLE events (
    -- Global position: the order in which readers of the whole log see events.
    position        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    -- Stream version, 1, 2, 3 ... per stream; the unique key is the optimistic concurrency guard.
    sequence        bigint      NOT NULL CHECK (sequence >= 1),
    event_type      text        NOT NULL,
    event_version   integer     NOT NULL CHECK (event_version >= 1),
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    -- The writing transaction: readers only read below pg_snapshot_xmin, see append_events().
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_stream_version_key UNIQUE (aggregate_type, aggregate_id, sequence)
);

COMMENT ON TABLE events IS 'Append-only event log; UPDATE, DELETE and TRUNCATE are refused by triggers.';

-- An idempotency key, once recorded, names the append it made; a repeat returns that append.
CREATE TABLE event_idempotency_keys (
    idempotency_key text        PRIMARY KEY,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    first_sequence  bigint      NOT NULL,
    last_sequence   bigint      NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The database itself refuses to change history. Statement-level, so that even an UPDATE or
-- DELETE matching no row is refused (it would otherwise pass silently).
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER event_idempotency_keys_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON event_idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Appends one or more batches of events in one statement (one round trip).
--
-- Gap-free reading: an appender takes a session advisory lock, is assigned its transaction id
-- and draws its positions, then releases the lock *before* committing. Transaction ids and
-- positions are therefore handed out in the same order, and a reader that reads only events
-- whose transaction_id is below pg_snapshot_xmin(pg_current_snapshot()) can never later meet a
-- smaller position: every transaction below xmin has ended. The lock covers only the INSERT,
-- not the commit, so commits (and their fsyncs) still run concurrently. See ADR 0001.
--
-- Per append i (a_* arrays): stream, expected version (-1 any, 0 no stream, n exact) and an
-- optional idempotency key. Per event (e_* arrays): the append it belongs to and its fields.
-- Returns, per append, either its inserted events ('ok'), the events a recorded idempotency
-- key names ('duplicate', with their payloads), or one 'conflict' row with the actual version.
CREATE FUNCTION append_events(
    a_type      text[],
    a_id        text[],
    a_expected  bigint[],
    a_key       text[],
    e_append    int[],
    e_id        uuid[],
    e_type      text[],
    e_version   int[],
    e_payload   jsonb[],
    e_metadata  jsonb[]
) RETURNS TABLE (
    append_no   int,
    outcome     text,
    stream_type text,
    stream_id   text,
    version     bigint,
    "position"  bigint,
    "sequence"  bigint,
    recorded_at timestamptz,
    event_id    uuid,
    event_type  text,
    event_version int,
    payload     jsonb,
    metadata    jsonb
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    lock_key CONSTANT bigint := 7262537303930443841;
    i        int;
    cur_version bigint;
    n        int;
    k        event_idempotency_keys%ROWTYPE;
BEGIN
    -- Checked before locking: a transaction that already wrote has an older transaction id
    -- than the positions it would draw, which would break the reader's invariant.
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'append_events must be the first write of its transaction'
            USING ERRCODE = 'BO001';
    END IF;
    PERFORM pg_advisory_lock(lock_key);
    BEGIN
        FOR i IN 1 .. coalesce(array_length(a_type, 1), 0) LOOP
            IF a_key[i] IS NOT NULL THEN
                SELECT * INTO k FROM event_idempotency_keys ik WHERE ik.idempotency_key = a_key[i];
                IF FOUND THEN
                    RETURN QUERY
                        SELECT i, 'duplicate'::text, k.aggregate_type, k.aggregate_id, k.last_sequence, e.position, e.sequence,
                               e.recorded_at, e.event_id, e.event_type, e.event_version,
                               e.payload, e.metadata
                        FROM events e
                        WHERE e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id
                          AND e.sequence BETWEEN k.first_sequence AND k.last_sequence
                        ORDER BY e.sequence;
                    CONTINUE;
                END IF;
            END IF;

            SELECT coalesce(max(e.sequence), 0) INTO cur_version
            FROM events e WHERE e.aggregate_type = a_type[i] AND e.aggregate_id = a_id[i];
            IF a_expected[i] <> -1 AND a_expected[i] <> cur_version THEN
                RETURN QUERY SELECT i, 'conflict'::text, NULL::text, NULL::text, cur_version, NULL::bigint, NULL::bigint,
                    NULL::timestamptz, NULL::uuid, NULL::text, NULL::int, NULL::jsonb, NULL::jsonb;
                CONTINUE;
            END IF;

            SELECT count(*) INTO n FROM unnest(e_append) AS x WHERE x = i;
            IF a_key[i] IS NOT NULL THEN
                INSERT INTO event_idempotency_keys
                    (idempotency_key, aggregate_type, aggregate_id, first_sequence, last_sequence)
                VALUES (a_key[i], a_type[i], a_id[i], cur_version + 1, cur_version + n)
                ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    -- A concurrent append with this key committed while we waited on it.
                    SELECT * INTO k FROM event_idempotency_keys ik WHERE ik.idempotency_key = a_key[i];
                    RETURN QUERY
                        SELECT i, 'duplicate'::text, k.aggregate_type, k.aggregate_id, k.last_sequence, e.position, e.sequence,
                               e.recorded_at, e.event_id, e.event_type, e.event_version,
                               e.payload, e.metadata
                        FROM events e
                        WHERE e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id
                          AND e.sequence BETWEEN k.first_sequence AND k.last_sequence
                        ORDER BY e.sequence;
                    CONTINUE;
                END IF;
            END IF;

            RETURN QUERY
                INSERT INTO events AS e (event_id, aggregate_type, aggregate_id, sequence,
                                         event_type, event_version, payload, metadata)
                SELECT e_id[j], a_type[i], a_id[i], cur_version + row_number() OVER (ORDER BY j),
                       e_type[j], e_version[j], e_payload[j], e_metadata[j]
                FROM generate_subscripts(e_append, 1) AS j
                WHERE e_append[j] = i
                ORDER BY j
                RETURNING i, 'ok'::text, NULL::text, NULL::text, cur_version + n, e.position, e.sequence, e.recorded_at,
                          e.event_id, NULL::text, NULL::int, NULL::jsonb, NULL::jsonb;
        END LOOP;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM pg_advisory_unlock(lock_key);
        RAISE;
    END;
    PERFORM pg_advisory_unlock(lock_key);
END;
$$;
