"""The executor: claim a batch, run each task's handler, record the outcome.

At-least-once: a worker that dies after its handler ran but before the outcome was stored
leaves the task to be claimed again once its lease lapses, so handlers must be idempotent
(e.g. key side effects by ``task_id`` and attempt-independent data). A late outcome from a
worker that lost its lease is discarded (the store fences on claimant, attempt, generation).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lilo.tasks.v1 import tasks_service_pb2 as pb

from mesh.background import raise_if_cancelling
from mesh.clock import Clock, SystemClock
from services.tasks import logic
from services.tasks.store import TaskRow, TaskStore

log = logging.getLogger(__name__)


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help: the task becomes a dead letter now."""


class TaskHandler(Protocol):
    """Runs one attempt of a task. Return a JSON-able outcome; raise to fail the attempt."""

    async def __call__(self, task: TaskRow) -> Mapping[str, Any]: ...


class LoggingHandler:
    """The default handler: log the task and record that it was seen."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    async def __call__(self, task: TaskRow) -> Mapping[str, Any]:
        log.info(
            "task %s (%s) for %s: attempt %d",
            task.task_id, self.type_name, task.user_id, task.attempts,
        )  # fmt: skip
        return {"handled_by": "default", "type": self.type_name}


def default_handlers() -> dict[int, TaskHandler]:
    return {
        value: LoggingHandler(name)
        for name, value in pb.TaskType.items()
        if value != pb.TASK_TYPE_UNSPECIFIED
    }


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = 10
    lease_seconds: float = 300.0
    """How long a claim lasts; a handler must finish well within it."""
    backoff: logic.Backoff = field(default_factory=logic.Backoff)
    idle_seconds: float = 1.0
    """Production loop only: pause when the queue had nothing due."""


@dataclass(frozen=True)
class Outcome:
    task_id: uuid.UUID
    attempt: int
    state: int
    """State the attempt left the task in (SUCCEEDED, FAILED_RETRYING, DEAD)."""
    error: str = ""
    recorded: bool = True
    """False when the claim had been lost and the result was discarded."""


class Worker:
    def __init__(
        self,
        store: TaskStore,
        handlers: Mapping[int, TaskHandler] | None = None,
        *,
        clock: Clock | None = None,
        worker_id: str = "",
        config: WorkerConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers if handlers is not None else default_handlers())
        self.clock = clock or SystemClock()
        self.worker_id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.config = config or WorkerConfig()
        self.rng = rng

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.wall(), dt.UTC)

    async def claim(self) -> list[TaskRow]:
        return await self.store.claim(
            self.worker_id, self._now(), self.config.lease_seconds, self.config.batch_size
        )

    async def run_once(self) -> list[Outcome]:
        """Claim one batch and run it (in priority order); return what each attempt did."""
        return [await self.execute(task) for task in await self.claim()]

    async def execute(self, task: TaskRow) -> Outcome:
        handler = self.handlers.get(task.type)
        try:
            if handler is None:
                raise PermanentFailure(f"no handler for task type {task.type}")
            result = await handler(task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            verdict = logic.after_failure(
                task.attempts,
                task.max_attempts,
                self.config.backoff,
                permanent=isinstance(exc, PermanentFailure),
                rng=self.rng,
            )
            recorded = await self.store.fail(task, self._now(), error, verdict)
            return Outcome(task.task_id, task.attempts, verdict.state, error, recorded)
        recorded = await self.store.succeed(task, self._now(), dict(result))
        return Outcome(task.task_id, task.attempts, logic.SUCCEEDED, "", recorded)

    async def run(self, stop: asyncio.Event) -> None:
        """Production loop: work while there is work, pause when idle, until ``stop`` is set."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:
                raise_if_cancelling()
                log.exception("task worker %s: batch failed", self.worker_id)
                done = []
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.idle_seconds)
