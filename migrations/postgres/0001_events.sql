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

-- Appends one or more appends (a group-commit batch) in one statement: one round trip.
--
-- Gap-free reading: an appender takes a session advisory lock, is assigned its transaction id
-- and draws its positions, then releases the lock *before* committing. Transaction ids and
-- positions are therefore handed out in the same order, and a reader that reads only events
-- whose transaction_id is below pg_snapshot_xmin(pg_current_snapshot()) can never later meet a
-- smaller position: every transaction below xmin has ended. The lock covers only the INSERT,
-- not the commit, so commits (and their fsyncs) still run concurrently. See ADR 0001.
--
-- Per append n (a_* arrays): stream, expected version (-1 any, 0 no stream, n exact) and an
-- optional idempotency key. Per event (e_*
-- arrays): the append it belongs to, its place in it (1, 2, …) and its fields. Returns per
-- append one 'ok' row (first and last position, count, first sequence, time), the events its
-- recorded key names ('duplicate', with payloads), one 'conflict' row with the actual version,
-- or one 'retry' row when a concurrent append with the same key committed while this one waited
-- (the caller then reads that append).
CREATE FUNCTION append_events(
    a_type      text[],
    a_id        text[],
    a_expected  bigint[],
    a_key       text[],
    e_append    int[],
    e_offset    int[],
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
    metadata    jsonb,
    last_position bigint,
    written     bigint
) LANGUAGE plpgsql
-- Without this PostgreSQL re-plans the statement below on every call (measured: half the speed).
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    lock_key CONSTANT bigint := 7262537303930443841;
    appended_at timestamptz;
    outer_lock_timeout text := current_setting('lock_timeout');
BEGIN
    -- Checked before locking: a transaction that already wrote has an older transaction id
    -- than the positions it would draw, which would break the readers' invariant.
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'append_events must be the first write of its transaction'
            USING ERRCODE = 'BO001';
    END IF;
    -- A batch names each stream and key once (group commit sees to it). Were one named twice,
    -- the stream's unique key would fail the batch (then retried append by append), and a
    -- repeated key is matched with its stream and the second answered 'retry': still correct.
    BEGIN
        -- Inside the block, so that a cancel landing on the lock still releases it.
        PERFORM pg_advisory_lock(lock_key);
        -- Taken under the lock, so that recorded_at never runs backwards in position order.
        appended_at := clock_timestamp();
        -- Whoever waits here stalls every appender: a wait on another transaction's row or
        -- key (an open transaction that appended to the same stream) fails the append instead.
        PERFORM set_config('lock_timeout', '2s', true);
        RETURN QUERY
        WITH
        appends AS (
            SELECT a.n::int AS n, a.t, a.sid, a.expected, a.k, coalesce(c.cnt, 0) AS cnt,
                   (SELECT coalesce(max(e.sequence), 0) FROM events e
                     WHERE e.aggregate_type = a.t AND e.aggregate_id = a.sid) AS cur,
                   ik.idempotency_key IS NOT NULL AS known,
                   ik.aggregate_type AS k_type, ik.aggregate_id AS k_id,
                   ik.first_sequence AS k_first, ik.last_sequence AS k_last
            FROM unnest(a_type, a_id, a_expected, a_key) WITH ORDINALITY AS a(t, sid, expected, k, n)
            LEFT JOIN (SELECT x AS app, count(*) AS cnt FROM unnest(e_append) AS x GROUP BY x) AS c
                   ON c.app = a.n
            LEFT JOIN event_idempotency_keys ik ON ik.idempotency_key = a.k
        ),
        writable AS (
            SELECT * FROM appends ap
            WHERE NOT ap.known AND (ap.expected = -1 OR ap.expected = ap.cur)
        ),
        -- A key recorded by a transaction still in flight makes this insert wait for it; if
        -- that one commits, the append is answered 'retry' and the caller reads the winner.
        keys_written AS (
            INSERT INTO event_idempotency_keys
                (idempotency_key, aggregate_type, aggregate_id, first_sequence, last_sequence)
            SELECT w.k, w.t, w.sid, w.cur + 1, w.cur + w.cnt FROM writable w WHERE w.k IS NOT NULL
            ON CONFLICT DO NOTHING
            RETURNING idempotency_key, aggregate_type, aggregate_id
        ),
        proceeding AS (
            SELECT * FROM writable w
            WHERE w.k IS NULL
               OR (w.k, w.t, w.sid) IN (SELECT kw.idempotency_key, kw.aggregate_type, kw.aggregate_id
                                        FROM keys_written kw)
        ),
        inserted AS (
            INSERT INTO events AS e (event_id, aggregate_type, aggregate_id, sequence,
                                     event_type, event_version, payload, metadata, recorded_at)
            SELECT u.eid, p.t, p.sid, p.cur + u.off, u.etype, u.ever, u.epayload, u.emeta, appended_at
            FROM unnest(e_append, e_offset, e_id, e_type, e_version, e_payload, e_metadata)
                 WITH ORDINALITY AS u(app, off, eid, etype, ever, epayload, emeta, j)
            JOIN proceeding p ON p.n = u.app
            ORDER BY u.j
            RETURNING e.aggregate_type, e.aggregate_id, e.position
        )
        -- One row per written append: its events have consecutive positions (drawn in order
        -- under the lock), which the caller checks against the count. A batch names each
        -- stream once, so the stream says which append an event is of.
        SELECT p.n, 'ok'::text, NULL::text, NULL::text, p.cur + p.cnt, min(i.position),
               p.cur + 1, appended_at, NULL::uuid, NULL::text, NULL::int, NULL::jsonb,
               NULL::jsonb, max(i.position), count(*)
        FROM inserted i JOIN proceeding p ON p.t = i.aggregate_type AND p.sid = i.aggregate_id
        GROUP BY p.n, p.cur, p.cnt
        UNION ALL
        SELECT ap.n, 'conflict', NULL, NULL, ap.cur, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL
        FROM appends ap WHERE NOT ap.known AND NOT (ap.expected = -1 OR ap.expected = ap.cur)
        UNION ALL
        SELECT w.n, 'retry', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL
        FROM writable w
        WHERE w.k IS NOT NULL
          AND (w.k, w.t, w.sid) NOT IN (SELECT kw.idempotency_key, kw.aggregate_type, kw.aggregate_id
                                        FROM keys_written kw)
        UNION ALL
        SELECT ap.n, 'duplicate', ap.k_type, ap.k_id, ap.k_last, e.position, e.sequence,
               e.recorded_at, e.event_id, e.event_type, e.event_version, e.payload, e.metadata,
               NULL, NULL
        FROM appends ap JOIN events e
          ON e.aggregate_type = ap.k_type AND e.aggregate_id = ap.k_id
         AND e.sequence BETWEEN ap.k_first AND ap.k_last
        WHERE ap.known
        ORDER BY 1, 7;
        PERFORM set_config('lock_timeout', outer_lock_timeout, true);
        PERFORM pg_advisory_unlock(lock_key);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- Unlocking a lock not (yet) held only warns.
        PERFORM pg_advisory_unlock(lock_key);
        RAISE;
    END;
END;
$$;
