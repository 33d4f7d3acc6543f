"""An in-process registry: the embedded default and the unit tests' backend.

It keeps real leases (a crashed instance that stops heartbeating lapses), pushes
snapshots to watchers at once, and needs no server. Everything runs on one event
loop; it is not shared between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from mesh.background import stop_task
from mesh.clock import Clock, SystemClock
from mesh.registry.base import DEFAULT_TTL_S, InstanceRecord, Snapshot
from mesh.registry.leases import LeaseTable


class InMemoryRegistry:
    """A ``Registry`` held in memory, with a sweeper task that lapses leases."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._tables: dict[str, LeaseTable] = {}
        self._watchers: dict[str, set[asyncio.Queue[Snapshot]]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False

    async def register(self, record: InstanceRecord, ttl: float = DEFAULT_TTL_S) -> None:
        await self.heartbeat(record, ttl)

    async def heartbeat(self, record: InstanceRecord, ttl: float = DEFAULT_TTL_S) -> None:
        table = self._tables.setdefault(record.service, LeaseTable())
        if table.upsert(record, ttl, self._clock.now()):
            self._publish(record.service)
        self._ensure_sweeper()

    async def deregister(self, service: str, instance_id: str) -> None:
        table = self._tables.get(service)
        if table is not None and table.remove(instance_id):
            self._publish(service)

    async def list_services(self) -> list[str]:
        self._sweep()
        return sorted(name for name, table in self._tables.items() if len(table))

    async def list_instances(self, service: str) -> list[InstanceRecord]:
        self._sweep()
        table = self._tables.get(service)
        return list(table.records()) if table else []

    async def watch(self, service: str) -> AsyncIterator[Snapshot]:
        # A one-slot queue conflates: a slow watcher gets the latest set, not a backlog.
        queue: asyncio.Queue[Snapshot] = asyncio.Queue(maxsize=1)
        self._watchers.setdefault(service, set()).add(queue)
        try:
            yield self._snapshot(service)
            while not self._closed:
                yield await queue.get()
        finally:
            self._watchers[service].discard(queue)

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            await stop_task(self._sweeper)

    def expire_now(self) -> None:
        """Lapse due leases at once; lets fake-clock tests skip the sweeper's timer."""
        self._sweep()

    def _snapshot(self, service: str) -> Snapshot:
        table = self._tables.get(service)
        return Snapshot(service=service, instances=table.records() if table else ())

    def _publish(self, service: str) -> None:
        snapshot = self._snapshot(service)
        for queue in self._watchers.get(service, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(snapshot)
        self._wake.set()

    def _sweep(self) -> None:
        now = self._clock.now()
        for service, table in self._tables.items():
            if table.expire(now):
                self._publish(service)

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while not self._closed:
            self._sweep()
            due = [t.next_expiry() for t in self._tables.values()]
            soonest = min((d for d in due if d is not None), default=None)
            self._wake.clear()
            timeout = None if soonest is None else max(0.0, soonest - self._clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
