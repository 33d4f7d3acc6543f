-- The durable task queue. States, types and priorities are the proto enum numbers.
CREATE SCHEMA IF NOT EXISTS tasks;

CREATE TABLE tasks.tasks (
    task_id         uuid        PRIMARY KEY,
    type            smallint    NOT NULL,
    user_id         text        NOT NULL,
    payload         jsonb       NOT NULL DEFAULT '{}',
    priority        smallint    NOT NULL,          -- 1 HIGH .. 3 LOW: ascending = first
    state           smallint    NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    due_at          timestamptz NOT NULL,
    next_attempt_at timestamptz,                   -- set while PENDING / FAILED_RETRYING
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    finished_at     timestamptz,
    idempotency_key text        NOT NULL DEFAULT '',
    -- The lease: the worker holding the running attempt, and until when.
    claimed_by      text        NOT NULL DEFAULT '',
    claimed_until   timestamptz,
    -- Bumped by RetryDeadLetter so attempt numbers restart from 1.
    generation      integer     NOT NULL DEFAULT 0,
    outcome         jsonb,
    cancel_reason   text        NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks.tasks (user_id, idempotency_key)
    WHERE idempotency_key <> '';
CREATE INDEX tasks_due ON tasks.tasks (priority, next_attempt_at, created_at)
    WHERE state IN (1, 4);
CREATE INDEX tasks_leases ON tasks.tasks (claimed_until) WHERE state = 2;
CREATE INDEX tasks_user_created ON tasks.tasks (user_id, created_at DESC, task_id DESC);
CREATE INDEX tasks_created ON tasks.tasks (created_at DESC, task_id DESC);
CREATE INDEX tasks_dead ON tasks.tasks (finished_at DESC, task_id DESC) WHERE state = 5;

-- Failed attempts (handler errors and lapsed leases), for dead-letter inspection.
CREATE TABLE tasks.attempts (
    task_id     uuid        NOT NULL REFERENCES tasks.tasks (task_id) ON DELETE CASCADE,
    generation  integer     NOT NULL,
    number      integer     NOT NULL,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL,
    error       text        NOT NULL,
    PRIMARY KEY (task_id, generation, number)
);
