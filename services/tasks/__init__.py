"""Task service: a durable PostgreSQL queue of background care work.

Tasks (medication reminders, wellness checks, crisis follow-ups, analyses, compliance
reports) are claimed by workers with ``SELECT ... FOR UPDATE SKIP LOCKED`` in priority
order once due; a claim is a lease (``claimed_until``), so a task whose worker died is
claimed again when the lease lapses. Failed attempts are retried with exponential backoff
until ``max_attempts``, then the task is a dead letter. Execution is at-least-once: handlers
(``worker.TaskHandler``) must be idempotent. ``logic`` is pure (validation, the state
table, backoff), ``store`` the asyncpg adapter, ``worker`` the executor, ``servicer`` the
gRPC API.

Exceptions: the mesh's ``mesh.status.ServiceError`` tree for callers, plus, for handlers::

    Exception
    └── PermanentFailure   (worker.py) the task cannot succeed: dead letter at once
"""
