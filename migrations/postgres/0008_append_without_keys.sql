-- append_events() gains a path for batches without idempotency keys (most appends): the same
-- outcome from a statement with fewer plan nodes (executor start-up of the statement is the
-- fixed cost of every append) and no join per event (docs/benchmarks.md). Everything else is
-- as in 0001.
CREATE OR REPLACE FUNCTION append_events(
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
        IF cardinality(array_remove(a_key, NULL)) = 0 THEN
            -- No idempotency key in the batch (most appends): a smaller statement, whose
            -- executor start-up, paid on every call, is the fixed cost of an append. Positions
            -- are drawn consecutively in event order under the lock, and the caller lists the
            -- events append by append, so each append's range follows from the first position
            -- and the counts of the appends before it; the caller checks it against the count
            -- written.
            RETURN QUERY
            WITH
            appends AS (
                SELECT a.n::int AS n, a.t, a.sid, a.expected, coalesce(c.cnt, 0) AS cnt,
                       (SELECT coalesce(max(e.sequence), 0) FROM events e
                         WHERE e.aggregate_type = a.t AND e.aggregate_id = a.sid) AS cur
                FROM unnest(a_type, a_id, a_expected) WITH ORDINALITY AS a(t, sid, expected, n)
                LEFT JOIN (SELECT x AS app, count(*) AS cnt FROM unnest(e_append) AS x GROUP BY x) AS c
                       ON c.app = a.n
            ),
            proceeding AS (
                SELECT * FROM appends ap WHERE ap.expected = -1 OR ap.expected = ap.cur
            ),
            -- Per append (by number): its stream version and whether it proceeds.
            plan AS (
                SELECT array_agg(ap.cur ORDER BY ap.n) AS cur,
                       array_agg(ap.expected = -1 OR ap.expected = ap.cur ORDER BY ap.n) AS ok
                FROM appends ap
            ),
            -- No join: each event takes its append's version by array index. The sort keeps
            -- the order of the arrays, in which the positions are drawn.
            inserted AS (
                INSERT INTO events AS e (event_id, aggregate_type, aggregate_id, sequence,
                                         event_type, event_version, payload, metadata, recorded_at)
                SELECT u.eid, a_type[u.app], a_id[u.app], pl.cur[u.app] + u.off, u.etype,
                       u.ever, u.epayload, u.emeta, appended_at
                FROM plan pl,
                     unnest(e_append, e_offset, e_id, e_type, e_version, e_payload, e_metadata)
                         WITH ORDINALITY AS u(app, off, eid, etype, ever, epayload, emeta, j)
                WHERE pl.ok[u.app]
                ORDER BY u.j
                RETURNING e.position
            ),
            drawn AS (
                SELECT min(i.position) AS first, max(i.position) AS last, count(*) AS written
                FROM inserted i
            )
            SELECT p.n, 'ok'::text, NULL::text, NULL::text, p.cur + p.cnt,
                   d.first + (sum(p.cnt) OVER w)::bigint - p.cnt,
                   p.cur + 1, appended_at, NULL::uuid, NULL::text, NULL::int, NULL::jsonb,
                   NULL::jsonb, d.first + (sum(p.cnt) OVER w)::bigint - 1,
                   -- Not consecutive (never expected): the caller reads the events back.
                   CASE WHEN d.last - d.first + 1 = d.written THEN p.cnt ELSE 0 END
            FROM proceeding p, drawn d
            WINDOW w AS (ORDER BY p.n)
            UNION ALL
            SELECT ap.n, 'conflict', NULL, NULL, ap.cur, NULL, NULL, NULL, NULL, NULL, NULL,
                   NULL, NULL, NULL, NULL
            FROM appends ap WHERE NOT (ap.expected = -1 OR ap.expected = ap.cur)
            ORDER BY 1, 7;
        ELSE
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
        END IF;
        PERFORM set_config('lock_timeout', outer_lock_timeout, true);
        PERFORM pg_advisory_unlock(lock_key);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- Unlocking a lock not (yet) held only warns.
        PERFORM pg_advisory_unlock(lock_key);
        RAISE;
    END;
END;
$$;
