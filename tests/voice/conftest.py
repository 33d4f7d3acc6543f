"""Voice test fixtures: real synthesized speech (espeak-ng + sox), the engine, a crisis service."""

from __future__ import annotations

import shutil
import subprocess
import uuid
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from mesh.client import ClientConfig, MeshClient
from mesh.db import create_pool, migrate
from mesh.registry import InMemoryRegistry
from mesh.testing import serve
from services.crisis.app import assemble
from services.crisis.config import CrisisConfig
from services.safety.servicer import SafetyServicer
from services.voice.engine import PocketSphinxConfig, PocketSphinxEngine
from services.voice.pool import PoolConfig, ProcessPoolEngine

CRISIS_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "crisis" / "migrations"
MISSING = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
needs_speech = pytest.mark.skipif(
    bool(MISSING),
    reason=f"{' and '.join(MISSING)} not installed: apt-get install -y espeak-ng sox",
)


def synthesize(text: str, directory: Path) -> bytes:
    """``text`` spoken by espeak-ng, as raw PCM16 16 kHz mono."""
    raw = directory / f"{uuid.uuid4().hex}.wav"
    out = directory / f"{uuid.uuid4().hex}-16k.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(
        ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", str(out)],
        check=True,
        capture_output=True,
    )
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        pcm: bytes = w.readframes(w.getnframes())
        return pcm


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], bytes]:
    if MISSING:
        pytest.skip(f"{' and '.join(MISSING)} not installed: apt-get install -y espeak-ng sox")
    directory = tmp_path_factory.mktemp("speech")
    cache: dict[str, bytes] = {}

    def say(text: str) -> bytes:
        if text not in cache:
            cache[text] = synthesize(text, directory)
        return cache[text]

    return say


@pytest.fixture(scope="session")
def thread_engine() -> Iterator[PocketSphinxEngine]:
    # Slots are created lazily on the first test's loop; the decoders themselves are loop-free.
    eng = PocketSphinxEngine(PocketSphinxConfig(slots=2))
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def pool_engine() -> Iterator[ProcessPoolEngine]:
    """Two worker processes with two slots each; not bound to any test's event loop."""
    eng = ProcessPoolEngine(PoolConfig(workers=2, slots_per_worker=2))
    eng.start()
    yield eng
    eng.close()


@pytest.fixture(params=["threads", "processes"])
def engine(request: pytest.FixtureRequest) -> PocketSphinxEngine | ProcessPoolEngine:
    """Every end-to-end test runs on both engines."""
    name = "thread_engine" if request.param == "threads" else "pool_engine"
    eng: PocketSphinxEngine | ProcessPoolEngine = request.getfixturevalue(name)
    return eng


class CrisisStack:
    """A real crisis service (PostgreSQL + Redis) with a real safety service behind it."""

    def __init__(self, registry: InMemoryRegistry, client: MeshClient, pool: asyncpg.Pool) -> None:
        self.registry = registry
        self.client = client
        self.pool = pool

    def stub(self) -> Any:
        from lilo.crisis.v1 import crisis_service_pb2_grpc as crisis_grpc

        return crisis_grpc.CrisisServiceStub(self.client.channel("lilo.crisis.v1.CrisisService"))

    async def alerts(self, resident_id: str) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch("SELECT * FROM crisis.alerts WHERE resident_id = $1", resident_id)
        )


@pytest.fixture
async def crisis_stack(fresh_database: str, redis_db_url: str) -> AsyncIterator[CrisisStack]:
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn, "crisis", CRISIS_MIGRATIONS)
    finally:
        await conn.close()
    async with AsyncExitStack() as stack:
        registry = InMemoryRegistry()
        pool = await create_pool(fresh_database, max_size=5)
        stack.push_async_callback(pool.close)
        redis = aioredis.Redis.from_url(redis_db_url)
        stack.push_async_callback(redis.aclose)
        client = MeshClient(registry, ClientConfig(health_check=False))
        stack.push_async_callback(client.close)
        await stack.enter_async_context(serve([SafetyServicer()], registry=registry))
        from lilo.safety.v1 import safety_service_pb2_grpc as safety_grpc

        safety_channel = client.channel("lilo.safety.v1.SafetyService")
        await safety_channel.wait_for_endpoints(1)
        instance = assemble(
            pool,
            redis,
            config=CrisisConfig(channel=f"lilo:crisis:test:{uuid.uuid4().hex}", poll_interval=0.05),
            safety=safety_grpc.SafetyServiceStub(safety_channel),
        )
        instance.bus.start()
        stack.push_async_callback(instance.close)
        await stack.enter_async_context(serve([instance.servicer], registry=registry))
        await client.channel("lilo.crisis.v1.CrisisService").wait_for_endpoints(1)
        yield CrisisStack(registry, client, pool)
