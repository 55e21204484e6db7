-- Read model: orders and their lines, for the UI and for reporting tools (docs/read-models.md).
-- Written only by the `orders` projection, in the transaction that moves its checkpoint.
CREATE TABLE orders (
    order_id           TEXT        PRIMARY KEY,
    customer_id        TEXT        NOT NULL,
    status             TEXT        NOT NULL,  -- placed | completed | cancelled
    payment_status     TEXT        NOT NULL,  -- unpaid | partially_paid | paid | partially_refunded | refunded
    fulfillment_status TEXT        NOT NULL,  -- unfulfilled | partially_shipped | shipped | partially_delivered | delivered | returned
    currency           TEXT        NOT NULL,  -- ISO 4217
    total_minor        INTEGER      NOT NULL,  -- amounts in minor units of `currency`
    paid_minor         INTEGER      NOT NULL,
    refunded_minor     INTEGER      NOT NULL,
    external_reference TEXT,
    placed_at          TEXT        NOT NULL,
    updated_at         TEXT        NOT NULL,
    last_position      INTEGER      NOT NULL   -- the log position this row reflects
);
CREATE INDEX orders_placed_at ON orders (placed_at DESC, order_id DESC);
CREATE INDEX orders_customer ON orders (customer_id, placed_at DESC);
CREATE INDEX orders_status ON orders (status, placed_at DESC);

CREATE TABLE order_lines (
    order_id         TEXT   NOT NULL REFERENCES orders (order_id),
    sku              TEXT   NOT NULL,
    name             TEXT   NOT NULL,
    unit_price_minor INTEGER NOT NULL,
    ordered          INTEGER NOT NULL,
    allocated        INTEGER NOT NULL,  -- held by shipments not released
    shipped          INTEGER NOT NULL,  -- dispatched, delivered or returned
    delivered        INTEGER NOT NULL,
    returned         INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
);
