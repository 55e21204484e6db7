-- The embedded backend's copy of migrations/postgres/0007 (times as fixed-width RFC 3339 TEXT).
-- The inbox of inbound webhooks (ADR 0007). Each verified delivery is stored here, raw, before
-- it is acknowledged; the primary key (source, provider event id) is the dedup: a repeat finds
-- its row and is answered 200 without being stored or processed again. A worker claims due rows,
-- maps them to commands and marks them done in the transaction that appends their events.
CREATE TABLE webhook_inbox (
    source          TEXT        NOT NULL CHECK (source IN ('stripe', 'easypost', 'erp', 'crm')),
    -- The provider's event id: Stripe/EasyPost `evt_...`, Standard Webhooks `webhook-id`.
    event_id        TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    -- The body exactly as received (always UTF-8 JSON: anything else is refused with 400).
    body            TEXT        NOT NULL,
    -- Request headers, lowercase names; signature headers keep their name, never their value.
    headers         TEXT        NOT NULL CHECK (json_valid(headers)),
    received_at     TEXT NOT NULL,
    status          TEXT        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'failed', 'dead', 'unmatched', 'ignored')),
    -- Processing attempts started (claims), and failed ones since the last admin retry.
    attempts        INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    failures        INTEGER     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    -- When a worker may claim the row next; a claim pushes it forward by the lease, so a worker
    -- that dies mid-attempt leaves a row that is due again once the lease has run out.
    next_attempt_at TEXT NOT NULL,
    -- The current claim: only the worker holding it may record the outcome.
    claim_token     TEXT,
    last_error      TEXT,
    processed_at    TEXT,
    PRIMARY KEY (source, event_id)
);

-- What a worker claims: due rows that are still to be (re)processed.
CREATE INDEX webhook_inbox_due ON webhook_inbox (next_attempt_at)
    WHERE status IN ('pending', 'failed', 'unmatched');
-- The admin list, newest first, optionally by source and status.
CREATE INDEX webhook_inbox_received ON webhook_inbox (received_at DESC, source, event_id);
CREATE INDEX webhook_inbox_status ON webhook_inbox (status, received_at DESC);

-- One row per finished processing attempt: what it concluded and why.
CREATE TABLE webhook_inbox_attempts (
    source      TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    attempt     INTEGER     NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT        NOT NULL
                CHECK (outcome IN ('done', 'failed', 'dead', 'unmatched', 'ignored')),
    error       TEXT,
    PRIMARY KEY (source, event_id, attempt),
    FOREIGN KEY (source, event_id) REFERENCES webhook_inbox (source, event_id) ON DELETE CASCADE
);

-- Read-only copies of what the ERP and the CRM own (docs/read-models.md). Written only by the
-- webhook worker; each row keeps the partner's timestamp of the event it came from, and an
-- older event never overwrites a newer one.
CREATE TABLE erp_products (
    sku         TEXT        PRIMARY KEY,
    name        TEXT        NOT NULL,
    price_minor INTEGER     NOT NULL CHECK (price_minor >= 0),
    currency    TEXT        NOT NULL,
    active      INTEGER     NOT NULL,
    updated_at  TEXT NOT NULL,
    event_id    TEXT        NOT NULL,
    synced_at   TEXT NOT NULL
);

CREATE TABLE erp_stock (
    sku         TEXT        NOT NULL,
    -- '' when the ERP reports one level across all warehouses.
    warehouse   TEXT        NOT NULL,
    available   INTEGER     NOT NULL CHECK (available >= 0),
    updated_at  TEXT NOT NULL,
    event_id    TEXT        NOT NULL,
    synced_at   TEXT NOT NULL,
    PRIMARY KEY (sku, warehouse)
);

CREATE TABLE crm_customers (
    customer_id TEXT        PRIMARY KEY,
    name        TEXT        NOT NULL,
    email       TEXT        NOT NULL,
    phone       TEXT,
    updated_at  TEXT NOT NULL,
    event_id    TEXT        NOT NULL,
    synced_at   TEXT NOT NULL
);
