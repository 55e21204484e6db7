-- The inbox of inbound webhooks (ADR 0007). Each verified delivery is stored here, raw, before
-- it is acknowledged; the primary key (source, provider event id) is the dedup: a repeat finds
-- its row and is answered 200 without being stored or processed again. A worker claims due rows,
-- maps them to commands and marks them done in the transaction that appends their events.
CREATE TABLE webhook_inbox (
    source          text        NOT NULL CHECK (source IN ('stripe', 'easypost', 'erp', 'crm')),
    -- The provider's event id: Stripe/EasyPost `evt_...`, Standard Webhooks `webhook-id`.
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    -- The body exactly as received (always UTF-8 JSON: anything else is refused with 400).
    body            text        NOT NULL,
    -- Request headers, lowercase names; signature headers keep their name, never their value.
    headers         jsonb       NOT NULL,
    received_at     timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'failed', 'dead', 'unmatched', 'ignored')),
    -- Processing attempts started (claims), and failed ones since the last admin retry.
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
    -- When a worker may claim the row next; a claim pushes it forward by the lease, so a worker
    -- that dies mid-attempt leaves a row that is due again once the lease has run out.
    next_attempt_at timestamptz NOT NULL,
    -- The current claim: only the worker holding it may record the outcome.
    claim_token     text,
    last_error      text,
    processed_at    timestamptz,
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
    source      text        NOT NULL,
    event_id    text        NOT NULL,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text        NOT NULL
                CHECK (outcome IN ('done', 'failed', 'dead', 'unmatched', 'ignored')),
    error       text,
    PRIMARY KEY (source, event_id, attempt),
    FOREIGN KEY (source, event_id) REFERENCES webhook_inbox (source, event_id) ON DELETE CASCADE
);

-- Read-only copies of what the ERP and the CRM own (docs/read-models.md). Written only by the
-- webhook worker; each row keeps the partner's timestamp of the event it came from, and an
-- older event never overwrites a newer one.
CREATE TABLE erp_products (
    sku         text        PRIMARY KEY,
    name        text        NOT NULL,
    price_minor bigint      NOT NULL CHECK (price_minor >= 0),
    currency    text        NOT NULL,
    active      boolean     NOT NULL,
    updated_at  timestamptz NOT NULL,
    event_id    text        NOT NULL,
    synced_at   timestamptz NOT NULL
);

CREATE TABLE erp_stock (
    sku         text        NOT NULL,
    -- '' when the ERP reports one level across all warehouses.
    warehouse   text        NOT NULL,
    available   bigint      NOT NULL CHECK (available >= 0),
    updated_at  timestamptz NOT NULL,
    event_id    text        NOT NULL,
    synced_at   timestamptz NOT NULL,
    PRIMARY KEY (sku, warehouse)
);

CREATE TABLE crm_customers (
    customer_id text        PRIMARY KEY,
    name        text        NOT NULL,
    email       text        NOT NULL,
    phone       text,
    updated_at  timestamptz NOT NULL,
    event_id    text        NOT NULL,
    synced_at   timestamptz NOT NULL
);
