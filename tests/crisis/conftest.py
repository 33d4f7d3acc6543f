"""Crisis test fixtures: a migrated fresh database, a private Redis channel, instances."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from grpc import aio
from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc

from mesh.clock import FakeClock
from mesh.config import ServerConfig
from mesh.db import create_pool, migrate
from mesh.registry import InMemoryRegistry
from mesh.server import MeshServer
from mesh.testing import serve
from services.crisis.app import CrisisInstance, assemble
from services.crisis.config import CrisisConfig
from services.crisis.notifiers import LoggingNotifier, Notifier

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "crisis" / "migrations"


@pytest.fixture
async def db_url(fresh_database: str) -> str:
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn, "crisis", MIGRATIONS)
    finally:
        await conn.close()
    return fresh_database


@pytest.fixture
def config() -> CrisisConfig:
    # A private channel: pub/sub channels are shared by every db index of a Redis server.
    return CrisisConfig(channel=f"lilo:crisis:test:{uuid.uuid4().hex}", poll_interval=0.05)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Node:
    """One crisis instance: its own pool, Redis client, servicer, worker and server."""

    instance: CrisisInstance
    server: MeshServer
    pool: asyncpg.Pool
    notifier: LoggingNotifier | None
    stub: pb_grpc.CrisisServiceStub

    async def crash(self) -> None:
        """Stop at once, like a killed process: no drain, background work cancelled."""
        await self.server.stop()
        await self.instance.close()


@dataclass
class Cluster:
    db_url: str
    redis_url: str
    config: CrisisConfig
    clock: FakeClock
    stack: AsyncExitStack
    registry: InMemoryRegistry = field(default_factory=InMemoryRegistry)
    nodes: list[Node] = field(default_factory=list)

    async def start(
        self,
        *,
        access: Any = None,
        safety: Any = None,
        notifiers: list[Notifier] | None = None,
        with_redis: bool = True,
    ) -> Node:
        pool = await create_pool(self.db_url, max_size=10)
        self.stack.push_async_callback(pool.close)
        redis: aioredis.Redis | None = None
        if with_redis:
            redis = aioredis.Redis.from_url(self.redis_url)
            self.stack.push_async_callback(redis.aclose)
        logging_notifier = LoggingNotifier() if notifiers is None else None
        instance = assemble(
            pool,
            redis,
            config=self.config,
            clock=self.clock,
            notifiers=notifiers if notifiers is not None else [logging_notifier],  # type: ignore[list-item]
            safety=safety,
        )
        # Only the feed's background work: tests drive the escalator by hand.
        instance.bus.start()
        self.stack.push_async_callback(instance.close)
        server = await self.stack.enter_async_context(
            serve(
                [instance.servicer],
                registry=self.registry,
                access=access,
                config=ServerConfig(lease_ttl=2.0, drain_grace=0.5),
            )
        )
        channel = aio.insecure_channel(server.address)
        self.stack.push_async_callback(channel.close)
        node = Node(
            instance=instance,
            server=server,
            pool=pool,
            notifier=logging_notifier,
            stub=pb_grpc.CrisisServiceStub(channel),
        )
        self.nodes.append(node)
        return node


@pytest.fixture
async def cluster(
    db_url: str, redis_db_url: str, config: CrisisConfig, clock: FakeClock
) -> AsyncIterator[Cluster]:
    async with AsyncExitStack() as stack:
        yield Cluster(db_url, redis_db_url, config, clock, stack)
