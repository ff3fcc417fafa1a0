-- +goose Up
-- An order belongs to the user who placed it (user_id: auth's users.id, not
-- a foreign key, since each service owns its tables). Its total is computed
-- by the server from its items, in the currency's minor units.
CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'fulfilled', 'cancelled')),
    currency        TEXT NOT NULL,          -- ISO 4217, upper case
    total_amount    INTEGER NOT NULL CHECK (total_amount >= 0),
    idempotency_key TEXT,                   -- the create request's, if it had one
    payment_ref     TEXT,                   -- set when paid
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    paid_at         TIMESTAMP,
    fulfilled_at    TIMESTAMP,
    cancelled_at    TIMESTAMP
);
-- Listing, newest first, all of a user's or those in one status; the
-- created-at range filters and the cursor use the same indexes.
CREATE INDEX orders_user_created ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_user_status_created ON orders (user_id, status, created_at DESC, id DESC);
-- A create retried with the same Idempotency-Key never makes a second order.
CREATE UNIQUE INDEX orders_user_idempotency_key ON orders (user_id, idempotency_key);

CREATE TABLE order_items (
    order_id    TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,           -- 0-based, in the order given
    sku         TEXT NOT NULL,
    name        TEXT NOT NULL,
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount INTEGER NOT NULL CHECK (unit_amount >= 0), -- a line's amount is quantity × unit_amount
    PRIMARY KEY (order_id, position)
);

-- +goose Down
DROP TABLE order_items;
DROP TABLE orders;
