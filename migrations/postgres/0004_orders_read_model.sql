-- Read model: orders and their lines, for the UI and for reporting tools (docs/read-models.md).
-- Written only by the `orders` projection, in the transaction that moves its checkpoint.
CREATE TABLE orders (
    order_id           text        PRIMARY KEY,
    customer_id        text        NOT NULL,
    status             text        NOT NULL,  -- placed | completed | cancelled
    payment_status     text        NOT NULL,  -- unpaid | partially_paid | paid | partially_refunded | refunded
    fulfillment_status text        NOT NULL,  -- unfulfilled | partially_shipped | shipped | partially_delivered | delivered | returned
    currency           text        NOT NULL,  -- ISO 4217
    total_minor        bigint      NOT NULL,  -- amounts in minor units of `currency`
    paid_minor         bigint      NOT NULL,
    refunded_minor     bigint      NOT NULL,
    external_reference text,
    placed_at          timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    last_position      bigint      NOT NULL   -- the log position this row reflects
);
CREATE INDEX orders_placed_at ON orders (placed_at DESC, order_id DESC);
CREATE INDEX orders_customer ON orders (customer_id, placed_at DESC);
CREATE INDEX orders_status ON orders (status, placed_at DESC);

CREATE TABLE order_lines (
    order_id         text   NOT NULL REFERENCES orders (order_id),
    sku              text   NOT NULL,
    name             text   NOT NULL,
    unit_price_minor bigint NOT NULL,
    ordered          bigint NOT NULL,
    allocated        bigint NOT NULL,  -- held by shipments not released
    shipped          bigint NOT NULL,  -- dispatched, delivered or returned
    delivered        bigint NOT NULL,
    returned         bigint NOT NULL,
    PRIMARY KEY (order_id, sku)
);
