"""``AuditWriter``: appends audit events to PostgreSQL, one transaction per batch.

Two ways in:

* ``append(events)`` stores a list now, in one transaction (AppendEvents uses it).
* ``submit(event)`` queues one event and waits until the batch it joined is committed.
  A background task collects events for up to ``linger`` seconds (or ``max_batch``
  events) and writes them together, so concurrent calls share one statement and one
  commit (``store.append``: one round trip per batch in the common case). ``submit``
  returning means the event is durable; ``submit`` raising means it is NOT stored (the
  mesh turns that into UNAVAILABLE for PHI calls).

  ``linger`` delays every batch; ``busy_linger`` only a batch that follows one with more
  than one event (so a lone caller never waits, while under load one commit serves more
  calls: fewer commits, less CPU in PostgreSQL and here).

The writer can write as ``writer_role`` (a transaction-local role switch), the database
role that may INSERT/SELECT audit rows but never UPDATE/DELETE them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import asyncpg

from mesh.background import stop_task
from mesh.clock import Clock, SystemClock
from services.audit import store
from services.audit.chain import ChainHead
from services.audit.logic import (
    MAX_APPEND,
    AuditEventData,
    KeyRing,
    StoredEvent,
    daily_partition,
)

log = logging.getLogger(__name__)

WRITER_ROLE = "lilo_audit_writer"
#: How long the batch writer keeps its pooled connection when no event is waiting. Under
#: load the next event comes long before; when it does not, the connection goes back to
#: the pool (and a pool being closed waits at most this long for it).
HOLD_IDLE_CONNECTION = 0.05


_Pending = tuple[AuditEventData, "asyncio.Future[StoredEvent]"]


def _by_day(event: AuditEventData) -> str:
    return _day_name(event.recorded_at_us // _US_PER_DAY)


_US_PER_DAY = 86_400 * 1_000_000


@functools.lru_cache(maxsize=8)
def _day_name(day: int) -> str:
    # Unix time has exactly 86 400 s per day, so the day number names one UTC date.
    return daily_partition(day * _US_PER_DAY)


class AuditWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: KeyRing,
        *,
        clock: Clock | None = None,
        partition_of: Callable[[AuditEventData], str] = _by_day,
        linger: float = 0.005,
        busy_linger: float = 0.0,
        max_batch: int = MAX_APPEND,
        writer_role: str | None = None,
        acquire_timeout: float = 2.0,
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._clock = clock or SystemClock()
        self._partition_of = partition_of
        self._linger = linger
        self._busy_linger = busy_linger
        self._max_batch = max_batch
        self._role = writer_role
        self._acquire_timeout = acquire_timeout
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # Partition heads as far as this writer knows them; the database has the final word.
        self._heads: dict[str, ChainHead] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def _stamp(self, event: AuditEventData) -> AuditEventData:
        return replace(event, recorded_at_us=int(self._clock.wall() * 1_000_000))

    async def append(self, events: Sequence[AuditEventData]) -> list[StoredEvent]:
        """Store ``events`` in order, atomically; ``recorded_at`` is set here."""
        if not events:
            return []
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            return await self._append_on(conn, events)

    async def _append_on(
        self, conn: asyncpg.Connection, events: Sequence[AuditEventData]
    ) -> list[StoredEvent]:
        stamped = [self._stamp(e) for e in events]
        return await store.append(
            conn,
            stamped,
            self._keys,
            self._partition_of,
            heads=self._heads,
            role=self._role or "",
        )

    async def submit(self, event: AuditEventData) -> StoredEvent:
        """Queue ``event`` for the next batch and wait until that batch is committed."""
        if self._closed:
            raise RuntimeError("audit writer is closed")
        future: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="audit-writer")
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop the background task."""
        self._closed = True
        if self._task is not None:
            await self._queue.join()
            await stop_task(self._task)

    async def _run(self) -> None:
        while True:
            batch = await self._collect([await self._queue.get()], self._linger)
            try:
                # Keep the connection while batches keep coming: giving it back to the pool
                # costs a reset round trip, which at high load would sit between commits.
                async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                    while batch:
                        stored = await self._append_on(conn, [event for event, _ in batch])
                        _settle(batch, stored)
                        self._done(batch)
                        # Company in the last batch means load: wait a little for more
                        # events, so that one commit serves more calls.
                        linger = self._busy_linger if len(batch) > 1 else 0.0
                        batch = await self._next_within(HOLD_IDLE_CONNECTION)
                        if batch:
                            batch = await self._collect(batch, linger)
            except Exception as exc:  # every waiter learns its record was not stored
                if batch:
                    log.error("audit batch of %d failed: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                self._done(batch)

    async def _collect(self, batch: list[_Pending], seconds: float) -> list[_Pending]:
        """``batch`` plus the events arriving within ``seconds`` and those already waiting,
        up to ``max_batch``."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    while len(batch) < self._max_batch:
                        batch.append(await self._queue.get())
        return batch + self._ready_batch(self._max_batch - len(batch))

    async def _next_within(self, seconds: float) -> list[_Pending]:
        """What is waiting now, or the first event to come within ``seconds``, or []."""
        batch = self._ready_batch()
        if batch:
            return batch
        try:
            async with asyncio.timeout(seconds):
                return [await self._queue.get()]
        except TimeoutError:
            return []

    def _ready_batch(self, limit: int | None = None) -> list[_Pending]:
        """What is already waiting, up to the batch limit, without waiting."""
        room = self._max_batch if limit is None else limit
        batch: list[_Pending] = []
        while len(batch) < room and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    def _done(self, batch: list[_Pending]) -> None:
        for _ in batch:
            self._queue.task_done()


def _settle(batch: list[_Pending], stored: Sequence[StoredEvent]) -> None:
    for (_, future), result in zip(batch, stored, strict=True):
        if not future.done():
            future.set_result(result)
