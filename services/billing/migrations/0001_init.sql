CREATE SCHEMA IF NOT EXISTS billing;

CREATE TABLE billing.usage_events (
    event_id          text PRIMARY KEY,
    user_id           text NOT NULL,
    service_type      smallint NOT NULL CHECK (service_type IN (1, 2, 3)),
    quantity          bigint NOT NULL CHECK (quantity >= 1),
    unit_cost_micros  bigint NOT NULL CHECK (unit_cost_micros >= 0),
    cost_micros       bigint NOT NULL CHECK (cost_micros = quantity * unit_cost_micros),
    currency_code     char(3) NOT NULL,
    billing_period    char(7) NOT NULL CHECK (billing_period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    occurred_at       timestamptz NOT NULL,
    recorded_at       timestamptz NOT NULL,
    idempotency_key   text NOT NULL
);

-- The idempotency guarantee: one event per (user, key), enforced by the database.
CREATE UNIQUE INDEX usage_events_idempotency ON billing.usage_events (user_id, idempotency_key);
-- Newest-first listing (keyset) and period totals.
CREATE INDEX usage_events_by_user_time
    ON billing.usage_events (user_id, occurred_at DESC, event_id DESC);
CREATE INDEX usage_events_by_period ON billing.usage_events (user_id, billing_period, service_type);
