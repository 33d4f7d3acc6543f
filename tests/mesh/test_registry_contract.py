"""One contract, two registries: in-memory and Redis must behave the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from mesh.registry import InMemoryRegistry, InstanceRecord, Registry, ServingStatus, Snapshot
from mesh.registry.redis import RedisRegistry


@pytest.fixture(params=["memory", "redis"])
async def registry(request: pytest.FixtureRequest) -> AsyncIterator[Registry]:
    reg: Registry
    if request.param == "memory":
        reg = InMemoryRegistry()
    else:
        url = request.getfixturevalue("redis_url")
        reg = RedisRegistry.from_url(url, prefix=f"t{uuid.uuid4().hex[:8]}", resync_interval=0.5)
    yield reg
    await reg.close()


def record(service: str = "lilo.test.v1.EchoService", n: int = 1, **kw: object) -> InstanceRecord:
    return InstanceRecord(
        service=service, instance_id=f"i{n}", address=f"127.0.0.1:{9000 + n}", **kw
    )  # type: ignore[arg-type]


async def until(
    watch: AsyncIterator[Snapshot],
    predicate: Callable[[Snapshot], bool],
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Snapshot:
    """Next snapshot that satisfies ``predicate``; fails the test after ``timeout``."""

    async def scan() -> Snapshot:
        async for snap in watch:
            if predicate(snap):
                return snap
        raise AssertionError("watch ended")

    return await asyncio.wait_for(scan(), timeout)


def ids(snap: Snapshot) -> set[str]:
    return {i.instance_id for i in snap.instances}


async def test_register_then_list(registry: Registry) -> None:
    await registry.register(record(n=1, zone="a", weight=3, version="1.2"), ttl=5)
    [got] = await registry.list_instances("lilo.test.v1.EchoService")
    assert (got.address, got.zone, got.weight, got.version) == ("127.0.0.1:9001", "a", 3, "1.2")
    assert "lilo.test.v1.EchoService" in await registry.list_services()


async def test_deregister_removes_at_once(registry: Registry) -> None:
    await registry.register(record(n=1), ttl=5)
    await registry.register(record(n=2), ttl=5)
    watch = registry.watch("lilo.test.v1.EchoService")
    assert ids(await until(watch, lambda s: len(s.instances) == 2)) == {"i1", "i2"}
    await registry.deregister("lilo.test.v1.EchoService", "i1")
    assert ids(await until(watch, lambda s: len(s.instances) == 1)) == {"i2"}
    assert [r.instance_id for r in await registry.list_instances("lilo.test.v1.EchoService")] == [
        "i2"
    ]
    await watch.aclose()  # type: ignore[attr-defined]


async def test_watch_pushes_new_instances(registry: Registry) -> None:
    watch = registry.watch("lilo.test.v1.EchoService")
    first = await until(watch, lambda s: True)
    assert first.instances == ()
    assert first.connected  # an empty set must come from the backend, not from an outage
    await registry.register(record(n=7), ttl=5)
    assert ids(await until(watch, lambda s: bool(s.instances))) == {"i7"}
    await watch.aclose()  # type: ignore[attr-defined]


async def test_lapsed_lease_disappears(registry: Registry) -> None:
    await registry.register(record(n=1), ttl=5)
    await registry.register(record(n=2), ttl=0.3)  # "crashes": never heartbeats again
    watch = registry.watch("lilo.test.v1.EchoService")
    await until(watch, lambda s: len(s.instances) == 2)
    assert ids(await until(watch, lambda s: len(s.instances) == 1, timeout=3)) == {"i1"}
    await watch.aclose()  # type: ignore[attr-defined]


async def test_heartbeat_changes_status(registry: Registry) -> None:
    await registry.register(record(n=1), ttl=5)
    watch = registry.watch("lilo.test.v1.EchoService")
    await until(watch, lambda s: len(s.serving()) == 1)
    await registry.heartbeat(record(n=1, status=ServingStatus.NOT_SERVING), ttl=5)
    snap = await until(watch, lambda s: len(s.serving()) == 0)
    assert snap.instances[0].status is ServingStatus.NOT_SERVING
    await watch.aclose()  # type: ignore[attr-defined]


async def test_services_are_separate(registry: Registry) -> None:
    await registry.register(record("lilo.a.v1.AService", 1), ttl=5)
    await registry.register(record("lilo.b.v1.BService", 1), ttl=5)
    assert [r.service for r in await registry.list_instances("lilo.a.v1.AService")] == [
        "lilo.a.v1.AService"
    ]
    assert {"lilo.a.v1.AService", "lilo.b.v1.BService"} <= set(await registry.list_services())


def test_record_validation() -> None:
    with pytest.raises(ValueError, match="weight"):
        record(weight=0)
    with pytest.raises(ValueError, match="address"):
        InstanceRecord(service="s", instance_id="i", address="")
    assert InstanceRecord.from_json(record(n=3, metadata={"k": "v"}).to_json()) == record(
        n=3, metadata={"k": "v"}
    )


async def test_redis_restart_keeps_the_last_set_and_reregisters(tmp_path: object) -> None:
    from pathlib import Path

    from mesh.embedded import EmbeddedRedis

    redis = EmbeddedRedis(Path(str(tmp_path)) / "redis")
    await asyncio.to_thread(redis.start)
    try:
        writer = RedisRegistry.from_url(redis.url)
        reader = RedisRegistry.from_url(
            redis.url, resync_interval=0.2, reconnect_backoff=(0.02, 0.2)
        )
        await writer.register(record(n=1), ttl=5)
        watch = reader.watch("lilo.test.v1.EchoService")
        await until(watch, lambda s: ids(s) == {"i1"})
        seen: list[Snapshot] = []

        def record_until(predicate: Callable[[Snapshot], bool]) -> Callable[[Snapshot], bool]:
            def check(snap: Snapshot) -> bool:
                seen.append(snap)
                return predicate(snap)

            return check

        await asyncio.to_thread(redis.stop)  # Redis goes away
        outage = await until(watch, record_until(lambda s: not s.connected))
        assert ids(outage) == {"i1"}  # the last known set is kept while Redis is away
        await asyncio.to_thread(redis.start)  # back on the same port, empty
        await writer.heartbeat(record(n=1), ttl=5)  # the next heartbeat re-registers
        await until(watch, record_until(lambda s: s.connected))
        await writer.deregister("lilo.test.v1.EchoService", "i1")
        await until(watch, record_until(lambda s: not s.instances))
        # Until the explicit removal, no snapshot ever lost the instance.
        assert all(ids(s) == {"i1"} for s in seen[:-1])
        await watch.aclose()  # type: ignore[attr-defined]
        await reader.close()
        await writer.close()
    finally:
        await asyncio.to_thread(redis.stop)
