"""The PostgreSQL queue and the worker on a real database, with a FakeClock (no sleeps)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import Any

import asyncpg
from lilo.tasks.v1 import tasks_service_pb2 as pb

from mesh.clock import FakeClock
from services.tasks import logic
from services.tasks.store import TaskRow, TaskStore
from services.tasks.worker import PermanentFailure, Worker, WorkerConfig


def now(clock: FakeClock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.wall(), dt.UTC)


async def enqueue(
    store: TaskStore,
    clock: FakeClock,
    *,
    priority: int = pb.TASK_PRIORITY_MEDIUM,
    due_in: float = 0.0,
    max_attempts: int = 5,
    key: str = "",
    user: str = "res-1",
    label: str = "",
) -> TaskRow:
    new = logic.NewTask(pb.TASK_TYPE_MEDICATION_REMINDER, user, priority, max_attempts, key)
    row, _ = await store.enqueue(
        new, {"label": label}, now(clock) + dt.timedelta(seconds=due_in), now(clock)
    )
    return row


class Recorder:
    """A handler that records what it ran and fails while ``failing`` is set."""

    def __init__(self, failing: bool = False) -> None:
        self.ran: list[str] = []
        self.failing = failing

    async def __call__(self, task: TaskRow) -> Mapping[str, Any]:
        await asyncio.sleep(0)  # let a concurrent worker interleave
        self.ran.append(str(task.payload.get("label", task.task_id)))
        if self.failing:
            raise RuntimeError("pharmacy system down")
        return {"reminded": True}


def worker(store: TaskStore, clock: FakeClock, handler: Any, **cfg: Any) -> Worker:
    return Worker(
        store,
        {pb.TASK_TYPE_MEDICATION_REMINDER: handler},
        clock=clock,
        config=WorkerConfig(**cfg),
    )


async def test_higher_priority_runs_first_then_oldest_due(
    task_pool: asyncpg.Pool, clock: FakeClock
) -> None:
    store = TaskStore(task_pool)
    await enqueue(store, clock, priority=pb.TASK_PRIORITY_LOW, label="low")
    await enqueue(store, clock, priority=pb.TASK_PRIORITY_MEDIUM, label="medium-later", due_in=-5)
    await enqueue(store, clock, priority=pb.TASK_PRIORITY_MEDIUM, label="medium-older", due_in=-10)
    await enqueue(store, clock, priority=pb.TASK_PRIORITY_HIGH, label="high")
    rec = Recorder()
    w = worker(store, clock, rec, batch_size=1)
    for _ in range(5):
        await w.run_once()
    assert rec.ran == ["high", "medium-older", "medium-later", "low"]


async def test_scheduled_task_waits_for_its_due_time(
    task_pool: asyncpg.Pool, clock: FakeClock
) -> None:
    store = TaskStore(task_pool)
    task = await enqueue(store, clock, due_in=3600, label="later")
    rec = Recorder()
    w = worker(store, clock, rec)
    assert await w.run_once() == []
    clock.advance(3599)
    assert await w.run_once() == []
    clock.advance(1)
    [outcome] = await w.run_once()
    assert outcome.task_id == task.task_id and outcome.state == logic.SUCCEEDED
    stored = await store.get(task.task_id)
    assert stored is not None and stored.state == logic.SUCCEEDED
    assert stored.outcome == {"reminded": True}


async def test_failures_back_off_then_dead_letter(
    task_pool: asyncpg.Pool, clock: FakeClock
) -> None:
    store = TaskStore(task_pool)
    task = await enqueue(store, clock, max_attempts=3)
    rec = Recorder(failing=True)
    w = worker(store, clock, rec, backoff=logic.Backoff(base=10, factor=2))
    [first] = await w.run_once()
    assert first.state == logic.FAILED_RETRYING and first.attempt == 1
    stored = await store.get(task.task_id)
    assert stored is not None and stored.next_attempt_at == now(clock) + dt.timedelta(seconds=10)
    assert "pharmacy system down" in stored.last_error
    clock.advance(9.9)
    assert await w.run_once() == []  # backoff not over
    clock.advance(0.1)
    [second] = await w.run_once()
    assert second.state == logic.FAILED_RETRYING and second.attempt == 2
    clock.advance(19)
    assert await w.run_once() == []  # the second wait is twice as long
    clock.advance(1)
    [third] = await w.run_once()
    assert third.state == logic.DEAD
    clock.advance(10_000)
    assert await w.run_once() == []  # dead letters never run again by themselves
    dead = await store.get(task.task_id)
    assert (
        dead is not None
        and dead.state == logic.DEAD
        and dead.finished_at == now(clock) - dt.timedelta(seconds=10_000)
    )
    attempts = await store.failed_attempts(dead)
    assert [a.number for a in attempts] == [1, 2, 3]
    assert len(rec.ran) == 3


async def test_permanent_failure_and_missing_handler_go_dead_at_once(
    task_pool: asyncpg.Pool, clock: FakeClock
) -> None:
    store = TaskStore(task_pool)
    await enqueue(store, clock)

    async def refuse(task: TaskRow) -> Mapping[str, Any]:
        raise PermanentFailure("resident has no medication on file")

    [outcome] = await worker(store, clock, refuse).run_once()
    assert outcome.state == logic.DEAD
    new = logic.NewTask(pb.TASK_TYPE_COMPLIANCE_REPORT, "org", 2, 5, "")
    await store.enqueue(new, {}, now(clock), now(clock))
    [outcome] = await worker(store, clock, refuse).run_once()  # no compliance handler
    assert outcome.state == logic.DEAD and "no handler" in outcome.error


async def test_two_workers_never_run_the_same_task(
    task_pool: asyncpg.Pool, fresh_database: str, clock: FakeClock
) -> None:
    other_pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=4)
    assert other_pool is not None
    try:
        for i in range(30):
            await enqueue(TaskStore(task_pool), clock, label=f"t{i}")
        rec = Recorder()
        w1 = worker(TaskStore(task_pool), clock, rec, batch_size=4)
        w2 = worker(TaskStore(other_pool), clock, rec, batch_size=4)
        rounds = 0
        while True:
            a, b = await asyncio.gather(w1.run_once(), w2.run_once())
            rounds += 1
            assert not {o.task_id for o in a} & {o.task_id for o in b}
            if not a and not b:
                break
        assert sorted(rec.ran) == sorted(f"t{i}" for i in range(30))  # each exactly once
        assert rounds <= 9  # both workers made progress in parallel (30 tasks, 8 per round)
    finally:
        await other_pool.close()


async def test_crashed_workers_task_is_reclaimed_after_its_lease(
    task_pool: asyncpg.Pool, clock: FakeClock
) -> None:
    store = TaskStore(task_pool)
    task = await enqueue(store, clock, label="reminder")
    rec = Recorder()
    crashed = worker(store, clock, rec, lease_seconds=60)
    [claimed] = await crashed.claim()  # ...and the worker dies before finishing
    survivor = worker(store, clock, rec, lease_seconds=60)
    assert await survivor.run_once() == []  # the lease still holds
    clock.advance(60)
    [outcome] = await survivor.run_once()
    assert outcome.task_id == task.task_id and outcome.state == logic.SUCCEEDED
    assert outcome.attempt == 2
    done = await store.get(task.task_id)
    assert done is not None and done.claimed_by == survivor.worker_id
    lost = await store.failed_attempts(done)
    assert [(a.number, a.error.startswith("lease expired")) for a in lost] == [(1, True)]
    # The dead worker's late result is fenced off: the outcome stays the survivor's.
    assert await store.succeed(claimed, now(clock), {"late": True}) is False
    done = await store.get(task.task_id)
    assert done is not None and done.outcome == {"reminded": True}


async def test_idempotency_key_returns_first_task(
    task_pool: asyncpg.Pool, clock: FakeClock
) -> None:
    store = TaskStore(task_pool)
    new = logic.NewTask(pb.TASK_TYPE_WELLNESS_CHECK, "res-1", 2, 5, "checkin-2025-01-01")
    first, dedup1 = await store.enqueue(new, {"a": 1}, now(clock), now(clock))
    again, dedup2 = await store.enqueue(new, {"a": 2}, now(clock), now(clock))
    other, dedup3 = await store.enqueue(
        logic.NewTask(pb.TASK_TYPE_WELLNESS_CHECK, "res-2", 2, 5, "checkin-2025-01-01"),
        {},
        now(clock),
        now(clock),
    )
    assert (dedup1, dedup2, dedup3) == (False, True, False)
    assert again.task_id == first.task_id and again.payload == {"a": 1}
    assert other.task_id != first.task_id
