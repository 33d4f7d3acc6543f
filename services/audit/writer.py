"""``AuditWriter``: appends audit events to PostgreSQL, one transaction per batch.

Two ways in:

* ``append(events)`` stores a list now, in one transaction (AppendEvents uses it).
* ``submit(event)`` queues one event and waits until the batch it joined is committed.
  A background task collects events for up to ``linger`` seconds (or ``max_batch``
  events) and writes them together, so concurrent calls share one round of locking,
  one COPY and one commit. ``submit`` returning means the event is durable; ``submit``
  raising means it is NOT stored (the mesh turns that into UNAVAILABLE for PHI calls).

The writer can run its transactions as ``writer_role`` (``SET LOCAL ROLE``), the
database role that may INSERT/SELECT audit rows but never UPDATE/DELETE them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import asyncpg

from mesh.background import stop_task
from mesh.clock import Clock, SystemClock
from services.audit import store
from services.audit.logic import (
    MAX_APPEND,
    AuditEventData,
    KeyRing,
    StoredEvent,
    daily_partition,
)

log = logging.getLogger(__name__)

WRITER_ROLE = "lilo_audit_writer"


def _by_day(event: AuditEventData) -> str:
    return daily_partition(event.recorded_at_us)


class AuditWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: KeyRing,
        *,
        clock: Clock | None = None,
        partition_of: Callable[[AuditEventData], str] = _by_day,
        linger: float = 0.005,
        max_batch: int = MAX_APPEND,
        writer_role: str | None = None,
        acquire_timeout: float = 2.0,
    ) -> None:
        self._pool = pool
        self._keys = keys
        self._clock = clock or SystemClock()
        self._partition_of = partition_of
        self._linger = linger
        self._max_batch = max_batch
        self._role = writer_role
        self._acquire_timeout = acquire_timeout
        self._queue: asyncio.Queue[tuple[AuditEventData, asyncio.Future[StoredEvent]]] = (
            asyncio.Queue()
        )
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def _stamp(self, event: AuditEventData) -> AuditEventData:
        return replace(event, recorded_at_us=int(self._clock.wall() * 1_000_000))

    async def append(self, events: Sequence[AuditEventData]) -> list[StoredEvent]:
        """Store ``events`` in order in one transaction; ``recorded_at`` is set here."""
        if not events:
            return []
        stamped = [self._stamp(e) for e in events]
        async with (
            self._pool.acquire(timeout=self._acquire_timeout) as conn,
            conn.transaction(),
        ):
            if self._role:
                # Quoted identifier: the role name comes from configuration.
                await conn.execute(f'SET LOCAL ROLE "{self._role.replace(chr(34), "")}"')
            return await store.append(conn, stamped, self._keys, self._partition_of)

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
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self._linger
            while len(batch) < self._max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            # Drain whatever else is already waiting, up to the batch limit, without waiting.
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[AuditEventData, asyncio.Future[StoredEvent]]]) -> None:
        try:
            stored = await self.append([event for event, _ in batch])
        except Exception as exc:  # every waiter learns its record was not stored
            log.error("audit batch of %d failed: %s", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            for _ in batch:
                self._queue.task_done()
