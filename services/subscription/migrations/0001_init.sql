CREATE SCHEMA IF NOT EXISTS subscription;

CREATE TABLE subscription.plans (
    plan_id        text PRIMARY KEY,
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    price_micros   bigint NOT NULL CHECK (price_micros >= 0),
    currency_code  char(3) NOT NULL,
    interval       smallint NOT NULL CHECK (interval IN (1, 2)),  -- 1 monthly, 2 yearly
    trial_seconds  bigint NOT NULL DEFAULT 0 CHECK (trial_seconds >= 0),
    features       text[] NOT NULL DEFAULT '{}',
    available      boolean NOT NULL DEFAULT true
);

INSERT INTO subscription.plans
    (plan_id, name, description, price_micros, currency_code, interval, trial_seconds,
     features, available)
VALUES
    ('basic', 'Basic', 'Companion conversations and reminders.', 9990000, 'USD', 1,
     14 * 86400, '{conversations,reminders}', true),
    ('family', 'Family', 'Basic plus family access and weekly summaries.', 19990000, 'USD', 1,
     30 * 86400, '{conversations,reminders,family_access,summaries}', true),
    ('family-yearly', 'Family (yearly)', 'Family, paid once a year.', 199990000, 'USD', 2,
     0, '{conversations,reminders,family_access,summaries}', true),
    ('legacy', 'Legacy', 'Kept for existing subscribers.', 4990000, 'USD', 1,
     0, '{conversations}', false);

CREATE TABLE subscription.subscriptions (
    subscription_id       text PRIMARY KEY,
    user_id               text NOT NULL,
    plan_id               text NOT NULL REFERENCES subscription.plans (plan_id),
    state                 smallint NOT NULL CHECK (state IN (1, 2, 3, 4)),
    trial_ends_at         timestamptz,
    current_period_start  timestamptz NOT NULL,
    current_period_end    timestamptz NOT NULL,
    cancel_at_period_end  boolean NOT NULL DEFAULT false,
    past_due_since        timestamptz,
    cancelled_at          timestamptz,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    idempotency_key       text NOT NULL,
    start_trial           boolean NOT NULL,
    cancel_reason         text NOT NULL DEFAULT '',
    CHECK ((state = 3) = (past_due_since IS NOT NULL)),
    CHECK ((state = 4) = (cancelled_at IS NOT NULL))
);

-- One subscription per user that is not cancelled (state 4).
CREATE UNIQUE INDEX subscriptions_one_open ON subscription.subscriptions (user_id)
    WHERE state <> 4;
-- A retried create with the same key finds the first subscription.
CREATE UNIQUE INDEX subscriptions_idempotency
    ON subscription.subscriptions (user_id, idempotency_key);
CREATE INDEX subscriptions_by_user ON subscription.subscriptions (user_id, created_at DESC);

CREATE TABLE subscription.payments (
    payment_reference  text PRIMARY KEY,
    subscription_id    text NOT NULL REFERENCES subscription.subscriptions (subscription_id),
    outcome            smallint NOT NULL CHECK (outcome IN (1, 2)),
    amount_micros      bigint NOT NULL,
    currency_code      char(3) NOT NULL,
    occurred_at        timestamptz NOT NULL,
    failure_reason     text NOT NULL DEFAULT '',
    recorded_at        timestamptz NOT NULL
);
