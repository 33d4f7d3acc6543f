"""``AuditWriter``: appends audit events to PostgreSQL, one transaction per batch.

Two ways in:

* ``append(events)`` stores a list now, in one transaction (AppendEvents uses it).
* ``submit(event)`` (or ``enqueue``, which returns a future instead of being a
  coroutine) queues one event and waits until the batch it joined is committed. One
  background task does **group commit**: it writes everything queued as one batch (one
  statement, one commit: ``store.append``), and when that commit returns, everything that
  queued meanwhile is the next batch; it keeps its pooled connection while batches keep
  coming. ``submit`` returning means the event is durable; ``submit`` raising means it is
  NOT stored (the mesh turns that into UNAVAILABLE for PHI calls).

  ``linger`` delays the first batch after an idle spell; ``busy_linger`` only the batch
  that follows one with more than one event, counted from that batch's first event (so
  a lone caller never waits, while under load one commit serves more calls: fewer
  commits, less CPU in PostgreSQL and here). Both are one timer per batch, not a
  wake-up per event.

The writer can write as ``writer_role`` (a transaction-local role switch), the database
role that may INSERT/SELECT audit rows but never UPDATE/DELETE them.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable, Sequence

import asyncpg

from mesh.background import Doorbell
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
        self._queue: collections.deque[_Pending] = collections.deque()
        self._doorbell = Doorbell()
        # Partition heads as far as this writer knows them; the database has the final word.
        self._heads: dict[str, ChainHead] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def _stamp(self, event: AuditEventData) -> AuditEventData:
        return event.stamped(int(self._clock.wall() * 1_000_000))

    async def append(self, events: Sequence[AuditEventData]) -> list[StoredEvent]:
        """Store ``events`` in order, atomically; ``recorded_at`` is set here."""
        if not events:
            return []
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            return await self._append_on(conn, events)

    async def _append_on(
        self, conn: asyncpg.Connection, events: Sequence[AuditEventData]
    ) -> list[StoredEvent]:
        now_us = int(self._clock.wall() * 1_000_000)
        stamped = [e.stamped(now_us) for e in events]
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
        return await self.enqueue(event)

    def enqueue(self, event: AuditEventData) -> asyncio.Future[StoredEvent]:
        """``submit`` without the coroutine: the event is queued now, and the future
        resolves once its batch is committed (or fails with why it was not). Cancelling
        the future does not take the event back: it is written all the same."""
        if self._closed:
            raise RuntimeError("audit writer is closed")
        future: asyncio.Future[StoredEvent] = asyncio.get_running_loop().create_future()
        self._queue.append((event, future))
        self._doorbell.ring()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="audit-writer")
        return future

    async def close(self) -> None:
        """Write what is queued, then stop the background task."""
        self._closed = True
        self._doorbell.ring()  # no need to hold the connection any longer
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        """Group commit: write what is queued as one batch; when that commit returns,
        everything that queued meanwhile is the next batch. The task ends (and gives its
        connection back) once nothing has come for ``HOLD_IDLE_CONNECTION``."""
        # Outer loop: events that queued while the connection was being given back, or
        # behind a batch that failed (they get a fresh connection).
        while self._queue:
            batch: list[_Pending] = []
            try:
                if self._linger > 0:
                    await asyncio.sleep(self._linger)
                # Keep the connection while batches keep coming: giving it back to the pool
                # costs a reset round trip, which at high load would sit between commits.
                async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                    while True:
                        batch = self._take()
                        stored = await self._append_on(conn, [e for e, _ in batch])
                        _settle(batch, stored)
                        busy, batch = len(batch) > 1, []
                        if not await self._more_within(HOLD_IDLE_CONNECTION):
                            break
                        if busy and self._busy_linger > 0 and len(self._queue) < self._max_batch:
                            # Company in the last batch means load: from the first new
                            # event on (not from the commit: answering the last batch takes
                            # a while), let a little more queue up, so that one commit
                            # serves more calls.
                            await asyncio.sleep(self._busy_linger)
            except Exception as exc:  # every waiter learns its record was not stored
                if not batch:  # no connection: what is queued now fails, not just one
                    batch = self._take()
                log.error("audit batch of %d failed: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    def _take(self) -> list[_Pending]:
        """What is waiting now, up to ``max_batch``, oldest first."""
        queue = self._queue
        if len(queue) <= self._max_batch:
            batch = list(queue)
            queue.clear()
            return batch
        return [queue.popleft() for _ in range(self._max_batch)]

    async def _more_within(self, seconds: float) -> bool:
        """True once an event is waiting (now, or within ``seconds``; not once closed)."""
        if not self._queue and not self._closed:
            await self._doorbell.wait(seconds)
        return bool(self._queue)


def _settle(batch: list[_Pending], stored: Sequence[StoredEvent]) -> None:
    for (_, future), result in zip(batch, stored, strict=True):
        if not future.done():
            future.set_result(result)
