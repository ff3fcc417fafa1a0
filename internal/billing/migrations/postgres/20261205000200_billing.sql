-- +goose Up
-- A user's Stripe customer, made on first use (user_id: auth's users.id).
CREATE TABLE billing_customers (
    user_id            TEXT PRIMARY KEY,
    stripe_customer_id TEXT NOT NULL UNIQUE,
    created_at         TIMESTAMPTZ NOT NULL,
    reconciled_at      TIMESTAMPTZ NOT NULL   -- when reconcile last compared it with Stripe
);
-- Reconcile takes the customers it compared longest ago first.
CREATE INDEX billing_customers_reconciled ON billing_customers (reconciled_at);

-- Subscriptions as Stripe last told us. stripe_version is the creation time
-- (Unix seconds) of the event or fetch this row reflects: an older event
-- arriving later is ignored.
CREATE TABLE billing_subscriptions (
    id                   TEXT PRIMARY KEY,      -- Stripe's sub_...
    user_id              TEXT NOT NULL,
    price_id             TEXT NOT NULL,
    status               TEXT NOT NULL,         -- Stripe's: active, past_due, canceled, ...
    current_period_end   TIMESTAMPTZ,
    cancel_at_period_end BOOLEAN NOT NULL,
    past_due_since       TIMESTAMPTZ,           -- when it became past_due, for the grace period
    stripe_version       BIGINT NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX billing_subscriptions_user ON billing_subscriptions (user_id, updated_at DESC);

CREATE TABLE billing_invoices (
    id                 TEXT PRIMARY KEY,        -- Stripe's in_...
    user_id            TEXT NOT NULL,
    number             TEXT NOT NULL,
    status             TEXT NOT NULL,
    currency           TEXT NOT NULL,
    amount_due         BIGINT NOT NULL,
    amount_paid        BIGINT NOT NULL,
    hosted_invoice_url TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,    -- Stripe's
    stripe_version     BIGINT NOT NULL
);
CREATE INDEX billing_invoices_user_created ON billing_invoices (user_id, created_at DESC, id DESC);

-- Every webhook event, stored once by its ID; a job processes it.
CREATE TABLE stripe_events (
    id           TEXT PRIMARY KEY,             -- Stripe's evt_...
    type         TEXT NOT NULL,
    created      BIGINT NOT NULL,              -- Stripe's, Unix seconds
    payload      TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ
);
-- The clean-up deletes processed events after 30 days.
CREATE INDEX stripe_events_received ON stripe_events (received_at);

-- +goose Down
DROP TABLE stripe_events;
DROP TABLE billing_invoices;
DROP TABLE billing_subscriptions;
DROP TABLE billing_customers;
