"""The entry point's build(): servicer plus a running escalator worker on real storage."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from mesh.client import MeshClient
from mesh.clock import FakeClock
from mesh.db import create_pool
from mesh.errors import ConfigError
from mesh.registry import InMemoryRegistry
from mesh.runner import ServiceDeps
from services.crisis.__main__ import build
from services.crisis.app import CrisisInstance
from services.crisis.servicer import CrisisServicer


async def test_build_starts_the_worker_and_reads_config(
    db_url: str, redis_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LILO_CRISIS_ALERT_LEVEL", "CRITICAL")
    registry = InMemoryRegistry()
    pool = await create_pool(db_url)
    redis = aioredis.Redis.from_url(redis_db_url)
    client = MeshClient(registry)
    deps = ServiceDeps(
        name="crisis", registry=registry, client=client, clock=FakeClock(), db=pool, redis=redis
    )
    try:
        servicers = await build(deps)
        instance = deps.extras["crisis"]
        assert isinstance(instance, CrisisInstance)
        assert [type(s) for s in servicers] == [CrisisServicer]
        assert instance.escalator._task is not None and not instance.escalator._task.done()
        assert instance.servicer._config.alert_level == 5
        await instance.close()
        assert instance.escalator._task is None
    finally:
        await client.close()
        await redis.aclose()
        await pool.close()


async def test_build_refuses_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LILO_CRISIS_ALERT_LEVEL", "whenever")
    registry = InMemoryRegistry()
    deps = ServiceDeps(name="crisis", registry=registry, client=MeshClient(registry))
    with pytest.raises(ConfigError, match="whenever"):
        await build(deps)
