"""asyncpg adapter for the ``tasks`` schema. Every time is passed in (``now``): no SQL now()."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.tasks import logic


@dataclass(frozen=True)
class TaskRow:
    task_id: uuid.UUID
    type: int
    user_id: str
    payload: dict[str, Any]
    priority: int
    state: int
    attempts: int
    max_attempts: int
    last_error: str
    due_at: dt.datetime
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    idempotency_key: str
    claimed_by: str
    claimed_until: dt.datetime | None
    generation: int
    outcome: dict[str, Any] | None
    cancel_reason: str


@dataclass(frozen=True)
class AttemptRow:
    number: int
    started_at: dt.datetime | None
    finished_at: dt.datetime
    error: str


def _task(row: asyncpg.Record) -> TaskRow:
    data = dict(row)
    data["payload"] = json.loads(data["payload"])
    data["outcome"] = json.loads(data["outcome"]) if data["outcome"] is not None else None
    return TaskRow(**data)


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


class TaskStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def enqueue(
        self, new: logic.NewTask, payload: dict[str, Any], due_at: dt.datetime, now: dt.datetime
    ) -> tuple[TaskRow, bool]:
        """Insert the task; with a known (user, idempotency key) return the first (dedup)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """INSERT INTO tasks.tasks (task_id, type, user_id, payload, priority, state,
                       max_attempts, due_at, next_attempt_at, created_at, idempotency_key)
                   VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $8, $9, $10)
                   ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key <> ''
                   DO NOTHING RETURNING *""",
                uuid.uuid4(), new.type, new.user_id, json.dumps(payload), new.priority,
                logic.PENDING, new.max_attempts, due_at, now, new.idempotency_key,
            )  # fmt: skip
            if row is not None:
                return _task(row), False
            row = await conn.fetchrow(
                "SELECT * FROM tasks.tasks WHERE user_id = $1 AND idempotency_key = $2",
                new.user_id, new.idempotency_key,
            )  # fmt: skip
            assert row is not None
            return _task(row), True

    async def get(self, task_id: uuid.UUID) -> TaskRow | None:
        row = await self._pool.fetchrow("SELECT * FROM tasks.tasks WHERE task_id = $1", task_id)
        return _task(row) if row else None

    async def list_tasks(
        self,
        *,
        user_ids: Sequence[str] | None,
        states: Sequence[int],
        types: Sequence[int],
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
        dead_only: bool = False,
    ) -> list[TaskRow]:
        """Newest first by created_at, or most recently dead first when ``dead_only``."""
        order = "finished_at" if dead_only else "created_at"
        rows = await self._pool.fetch(
            f"""SELECT * FROM tasks.tasks
                WHERE ($1::text[] IS NULL OR user_id = ANY($1))
                  AND (cardinality($2::smallint[]) = 0 OR state = ANY($2))
                  AND (cardinality($3::smallint[]) = 0 OR type = ANY($3))
                  AND ($4::timestamptz IS NULL OR ({order}, task_id) < ($4, $5::uuid))
                ORDER BY {order} DESC, task_id DESC LIMIT $6""",
            list(user_ids) if user_ids is not None else None,
            [logic.DEAD] if dead_only else list(states),
            list(types),
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return [_task(r) for r in rows]

    async def failed_attempts(self, task: TaskRow) -> list[AttemptRow]:
        rows = await self._pool.fetch(
            """SELECT number, started_at, finished_at, error FROM tasks.attempts
               WHERE task_id = $1 AND generation = $2 ORDER BY number""",
            task.task_id, task.generation,
        )  # fmt: skip
        return [AttemptRow(**dict(r)) for r in rows]

    async def change(
        self, task_id: uuid.UUID, decide: Callable[[TaskRow], dict[str, Any] | None]
    ) -> TaskRow | None:
        """Lock the task, let ``decide`` (pure) return the columns to set (None: no change)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM tasks.tasks WHERE task_id = $1 FOR UPDATE", task_id
            )
            if row is None:
                return None
            task = _task(row)
            updates = decide(task)
            if not updates:
                return task
            names = list(updates)
            sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
            row = await conn.fetchrow(
                f"UPDATE tasks.tasks SET {sets} WHERE task_id = $1 RETURNING *",
                task_id, *updates.values(),
            )  # fmt: skip
            assert row is not None
            return _task(row)

    async def claim(
        self, worker_id: str, now: dt.datetime, lease: float, limit: int
    ) -> list[TaskRow]:
        """Take up to ``limit`` due tasks for ``worker_id``, best first, under a lease.

        First, tasks whose lease lapsed (their worker died) are returned to the queue (or
        to the dead letters when out of attempts), with the lost attempt recorded. Rows
        another worker is handling are skipped, never waited for (SKIP LOCKED).
        """
        async with self._pool.acquire() as conn, conn.transaction():
            lapsed = await conn.fetch(
                """SELECT * FROM tasks.tasks WHERE state = $1 AND claimed_until <= $2
                   ORDER BY claimed_until LIMIT $3 FOR UPDATE SKIP LOCKED""",
                logic.RUNNING, now, limit,
            )  # fmt: skip
            for record in lapsed:
                task = _task(record)
                verdict = logic.after_lapsed_lease(task.attempts, task.max_attempts)
                await self._record_failure(
                    conn, task, now, f"lease expired: worker {task.claimed_by} lost", verdict
                )
            rows = await conn.fetch(
                """WITH picked AS (
                       SELECT task_id FROM tasks.tasks
                       WHERE state = ANY($1::smallint[]) AND next_attempt_at <= $2
                       ORDER BY priority, next_attempt_at, created_at, task_id
                       LIMIT $3 FOR UPDATE SKIP LOCKED)
                   UPDATE tasks.tasks t
                   SET state = $4, attempts = t.attempts + 1, started_at = $2,
                       claimed_by = $5, claimed_until = $6, next_attempt_at = NULL
                   FROM picked WHERE t.task_id = picked.task_id
                   RETURNING t.*""",
                list(logic.CLAIMABLE), now, limit, logic.RUNNING, worker_id,
                now + _seconds(lease),
            )  # fmt: skip
        tasks = [_task(r) for r in rows]
        return sorted(tasks, key=lambda t: (t.priority, t.started_at, t.created_at))

    async def succeed(self, task: TaskRow, now: dt.datetime, outcome: dict[str, Any]) -> bool:
        """Finish a claimed attempt; False when the claim was lost (lease lapsed, reclaimed)."""
        status = await self._pool.execute(
            """UPDATE tasks.tasks
               SET state = $1, finished_at = $2, outcome = $3::jsonb, claimed_until = NULL,
                   last_error = ''
               WHERE task_id = $4 AND state = $5 AND claimed_by = $6 AND attempts = $7
                 AND generation = $8""",
            logic.SUCCEEDED, now, json.dumps(outcome), task.task_id, logic.RUNNING,
            task.claimed_by, task.attempts, task.generation,
        )  # fmt: skip
        return bool(status == "UPDATE 1")

    async def fail(
        self, task: TaskRow, now: dt.datetime, error: str, verdict: logic.AfterFailure
    ) -> bool:
        """Record a failed attempt and schedule the retry (or the dead letter); fenced."""
        async with self._pool.acquire() as conn, conn.transaction():
            held = await conn.fetchval(
                """SELECT true FROM tasks.tasks WHERE task_id = $1 AND state = $2
                     AND claimed_by = $3 AND attempts = $4 AND generation = $5 FOR UPDATE""",
                task.task_id, logic.RUNNING, task.claimed_by, task.attempts, task.generation,
            )  # fmt: skip
            if not held:
                return False
            await self._record_failure(conn, task, now, error, verdict)
            return True

    @staticmethod
    async def _record_failure(
        conn: asyncpg.Connection,
        task: TaskRow,
        now: dt.datetime,
        error: str,
        verdict: logic.AfterFailure,
    ) -> None:
        await conn.execute(
            """INSERT INTO tasks.attempts (task_id, generation, number, started_at,
                   finished_at, error)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            task.task_id, task.generation, task.attempts, task.started_at, now, error[:2000],
        )  # fmt: skip
        dead = verdict.state == logic.DEAD
        await conn.execute(
            """UPDATE tasks.tasks
               SET state = $2, last_error = $3, claimed_until = NULL,
                   next_attempt_at = $4, finished_at = $5
               WHERE task_id = $1""",
            task.task_id, verdict.state, error[:2000],
            None if dead else now + _seconds(verdict.retry_in or 0.0),
            now if dead else None,
        )  # fmt: skip
