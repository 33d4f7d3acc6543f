-- Chat storage. The seed kept messages in ScyllaDB partitioned by conversation and time;
-- here the same time-series shape lives in PostgreSQL: messages are range-partitioned by
-- month on created_at (old months can be detached/archived whole) and read per
-- conversation through (conversation_id, sequence DESC).
CREATE SCHEMA IF NOT EXISTS chat;

CREATE TABLE chat.conversations (
    conversation_id uuid PRIMARY KEY,
    resident_id     text        NOT NULL,
    created_by      text        NOT NULL,
    type            smallint    NOT NULL,
    title           text        NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL,
    last_active_at  timestamptz NOT NULL,
    -- The per-conversation counter: appends lock this row, so sequences strictly increase.
    last_sequence   bigint      NOT NULL DEFAULT 0
);
CREATE INDEX conversations_resident_activity
    ON chat.conversations (resident_id, last_active_at DESC, conversation_id DESC);
CREATE INDEX conversations_activity
    ON chat.conversations (last_active_at DESC, conversation_id DESC);

CREATE TABLE chat.messages (
    conversation_id    uuid        NOT NULL,
    sequence           bigint      NOT NULL,
    message_id         uuid        NOT NULL,
    sender_id          text        NOT NULL,
    sender_role        smallint    NOT NULL,
    content            text        NOT NULL,
    client_message_id  text        NOT NULL,
    created_at         timestamptz NOT NULL,
    crisis_detected    boolean     NOT NULL DEFAULT false,
    crisis_level       smallint    NOT NULL DEFAULT 0,
    crisis_categories  smallint[]  NOT NULL DEFAULT '{}',
    phi_detected       boolean     NOT NULL DEFAULT false,
    recommended_action smallint    NOT NULL DEFAULT 0,
    alert_id           text        NOT NULL DEFAULT '',
    -- A partitioned table's keys must contain the partition column.
    PRIMARY KEY (conversation_id, sequence, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX messages_conversation_sequence ON chat.messages (conversation_id, sequence DESC);

-- Monthly partitions 2024-01 .. 2030-12; anything outside lands in the default partition.
-- Months after 2030 need a later migration (create the partition, move rows out of default).
DO $$
DECLARE
    month date := DATE '2024-01-01';
BEGIN
    WHILE month < DATE '2031-01-01' LOOP
        EXECUTE format(
            'CREATE TABLE chat.messages_%s PARTITION OF chat.messages FOR VALUES FROM (%L) TO (%L)',
            to_char(month, 'YYYY_MM'), month, (month + INTERVAL '1 month')::date);
        month := (month + INTERVAL '1 month')::date;
    END LOOP;
END $$;
CREATE TABLE chat.messages_default PARTITION OF chat.messages DEFAULT;

-- Idempotency of appends: uniqueness across partitions cannot be declared on
-- chat.messages (the key would have to contain created_at), so it lives here.
CREATE TABLE chat.message_keys (
    conversation_id   uuid        NOT NULL,
    sender_id         text        NOT NULL,
    client_message_id text        NOT NULL,
    sequence          bigint      NOT NULL,
    created_at        timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, sender_id, client_message_id)
);

-- Per-resident daily counters, maintained in the append transaction.
CREATE TABLE chat.daily_analytics (
    resident_id        text   NOT NULL,
    day                date   NOT NULL,
    conversation_count bigint NOT NULL DEFAULT 0,
    total_messages     bigint NOT NULL DEFAULT 0,
    crisis_incidents   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (resident_id, day)
);
-- Which conversations already counted towards a day's conversation_count.
CREATE TABLE chat.daily_conversations (
    resident_id     text NOT NULL,
    day             date NOT NULL,
    conversation_id uuid NOT NULL,
    PRIMARY KEY (resident_id, day, conversation_id)
);
