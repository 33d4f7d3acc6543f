"""Wiring: one crisis instance = servicer + feed bus + escalator worker on shared storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from mesh.clock import Clock, SystemClock
from services.crisis.config import CrisisConfig
from services.crisis.escalator import Escalator
from services.crisis.feed import FeedBus
from services.crisis.notifiers import LoggingNotifier, Notifier
from services.crisis.servicer import CrisisServicer
from services.crisis.store import CrisisStore
from services.safety.detector import Detector

__all__ = ["CrisisInstance", "assemble"]


@dataclass
class CrisisInstance:
    servicer: CrisisServicer
    escalator: Escalator
    bus: FeedBus
    store: CrisisStore

    def start(self) -> None:
        """Start the background work: feed subscription/poll and the escalator loop."""
        self.bus.start()
        self.escalator.start()

    async def close(self) -> None:
        await self.escalator.stop()
        await self.bus.close()


def assemble(
    pool: asyncpg.Pool,
    redis: aioredis.Redis | None,
    *,
    config: CrisisConfig | None = None,
    clock: Clock | None = None,
    notifiers: Sequence[Notifier] | None = None,
    safety: Any | None = None,
    fallback: Detector | None = None,
) -> CrisisInstance:
    config = config or CrisisConfig()
    clock = clock or SystemClock()
    notifiers = list(notifiers) if notifiers is not None else [LoggingNotifier()]
    store = CrisisStore(pool)
    bus = FeedBus(redis, store, channel=config.channel, poll_interval=config.poll_interval)
    escalator = Escalator(store, bus, notifiers, config=config, clock=clock)
    servicer = CrisisServicer(
        store,
        bus,
        config=config,
        clock=clock,
        notifiers=[n.name for n in notifiers],
        safety=safety,
        fallback=fallback,
    )
    return CrisisInstance(servicer=servicer, escalator=escalator, bus=bus, store=store)
