-- Crisis alerts, the ordered event feed, and the notification outbox.
CREATE SCHEMA IF NOT EXISTS crisis;

CREATE TABLE crisis.alerts (
    alert_id            uuid        PRIMARY KEY,
    organization_id     text        NOT NULL DEFAULT '',
    resident_id         text        NOT NULL,
    source              text        NOT NULL DEFAULT '',
    level               smallint    NOT NULL CHECK (level BETWEEN 2 AND 5),  -- LOW..CRITICAL
    categories          smallint[]  NOT NULL DEFAULT '{}',
    excerpt             text        NOT NULL DEFAULT '',  -- PHI already masked
    trace_id            text        NOT NULL DEFAULT '',
    state               smallint    NOT NULL CHECK (state BETWEEN 1 AND 4),  -- AlertState
    tier                smallint    NOT NULL CHECK (tier BETWEEN 1 AND 4),   -- EscalationTier
    acknowledged_by     text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    next_escalation_at  timestamptz NULL,
    idempotency_key     text        NULL,
    -- Scoped to the organisation so one tenant's key can never return another's alert.
    UNIQUE (organization_id, idempotency_key)
);
-- The escalator's claim query: only rows with a pending deadline are indexed.
CREATE INDEX alerts_due ON crisis.alerts (next_escalation_at) WHERE next_escalation_at IS NOT NULL;
-- ListAlerts pages newest first.
CREATE INDEX alerts_newest ON crisis.alerts (created_at DESC, alert_id DESC);
CREATE INDEX alerts_resident_newest ON crisis.alerts (resident_id, created_at DESC, alert_id DESC);

-- The feed. seq is assigned as max(seq)+1 under a transaction-scoped advisory lock, so
-- commit order equals seq order and the sequence has no holes (see docs/services/crisis.md).
-- organization_id, resident_id and level are copies of the alert's (immutable) fields so
-- replay can filter without decoding the proto.
CREATE TABLE crisis.events (
    seq              bigint      PRIMARY KEY CHECK (seq > 0),
    alert_id         uuid        NOT NULL REFERENCES crisis.alerts (alert_id),
    organization_id  text        NOT NULL,
    resident_id      text        NOT NULL,
    level            smallint    NOT NULL,
    type             smallint    NOT NULL CHECK (type BETWEEN 1 AND 5),  -- AlertEventType
    actor            text        NOT NULL,
    reason           text        NOT NULL DEFAULT '',
    alert            bytea       NOT NULL,  -- lilo.crisis.v1.Alert as of this event
    occurred_at      timestamptz NOT NULL
);
CREATE INDEX events_alert ON crisis.events (alert_id, seq);

-- Outbox: one row per (alert, tier reached, notifier), written in the transaction that
-- made the alert reach the tier; delivered at least once by the escalator worker.
CREATE TABLE crisis.deliveries (
    id               bigserial   PRIMARY KEY,
    alert_id         uuid        NOT NULL REFERENCES crisis.alerts (alert_id),
    tier             smallint    NOT NULL,
    notifier         text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'delivered')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz NULL,
    UNIQUE (alert_id, tier, notifier)
);
CREATE INDEX deliveries_due ON crisis.deliveries (next_attempt_at) WHERE status = 'pending';
