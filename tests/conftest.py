"""Shared fixtures: real Redis and PostgreSQL servers for the whole test session.

By default each server is started by ``mesh.embedded`` in a private temporary directory on
a free port, once per session, and stopped (by PID) when the session ends, failures or not.
Set ``LILO_TEST_REDIS_URL`` / ``LILO_TEST_DATABASE_URL`` to use servers you run yourself
(then ``restart()`` skips the test).

Servers are stopped by the session fixtures' finalizers, by ``mesh.embedded``'s atexit
hook, and on SIGTERM (turned into KeyboardInterrupt below); only SIGKILL of pytest leaves
them running.

Fixtures:

* ``redis_server`` (session): object with ``.url``, ``.port``, ``restart()``.
* ``redis_url`` (session): ``redis://127.0.0.1:PORT/0``; shared, never flushed.
* ``redis_db_url`` (function): URL of a dedicated db index, FLUSHDB'd before each test.
* ``postgres_server`` (session): object with ``.url`` (database ``lilo``) and ``url_for(db)``.
* ``database_url`` (session): URL of database ``lilo``; shared between tests.
* ``fresh_database`` (function): URL of a new empty database, dropped after the test.

All fixtures are synchronous: pytest-asyncio runs each test on its own function-scoped
loop, and a sync fixture cannot end up bound to the wrong loop. Database administration
runs asyncpg on a private loop in a worker thread for the same reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

from mesh.embedded import EmbeddedPostgres, EmbeddedRedis

T = TypeVar("T")

# Embedded Redis: db 0 is the shared session db, this index is wiped before each test.
_REDIS_TEST_DB = 1


@dataclass(frozen=True)
class ExternalServer:
    """A server the developer runs (from an env URL): no lifecycle control."""

    url: str

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None, f"{self.url} has no explicit port"
        return port

    def url_for(self, database: str) -> str:
        return _with_path(self.url, f"/{database}")

    def restart(self) -> None:
        pytest.skip("server comes from an environment URL; restart is not supported")


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private loop in a worker thread.

    Keeps admin work (CREATE/DROP DATABASE) off whatever loop pytest-asyncio has set up.
    """

    async def runner() -> T:
        return await factory()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, runner()).result()


async def _execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url, timeout=30)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A plain SIGTERM (CI cancelling a job) would end the interpreter without finalizers
    # or atexit hooks and orphan the servers; as KeyboardInterrupt pytest tears down first.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


@pytest.fixture(scope="session")
def _state_root() -> Iterator[Path]:
    # Under /tmp rather than pytest's basetemp: when we are root, PostgreSQL runs as an
    # unprivileged user that must traverse it, and /tmp/pytest-of-root is mode 0700.
    root = Path(tempfile.mkdtemp(prefix="lilo-test-servers-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(_state_root: Path) -> Iterator[EmbeddedRedis | ExternalServer]:
    external = os.environ.get("LILO_TEST_REDIS_URL")
    if external:
        yield ExternalServer(external)
        return
    server = EmbeddedRedis(_state_root / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis | ExternalServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_db_url(redis_server: EmbeddedRedis | ExternalServer) -> str:
    """A db index of its own, emptied before the test (the URL's index for external servers)."""
    if isinstance(redis_server, ExternalServer):
        url = redis_server.url
    else:
        url = _with_path(redis_server.url, f"/{_REDIS_TEST_DB}")
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def postgres_server(_state_root: Path) -> Iterator[EmbeddedPostgres | ExternalServer]:
    external = os.environ.get("LILO_TEST_DATABASE_URL")
    if external:
        yield ExternalServer(external)
        return
    server = EmbeddedPostgres(_state_root / "postgres", durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def database_url(postgres_server: EmbeddedPostgres | ExternalServer) -> str:
    return postgres_server.url


@pytest.fixture
def fresh_database(postgres_server: EmbeddedPostgres | ExternalServer) -> Iterator[str]:
    """URL of a new, empty database that exists only for this test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin_url = postgres_server.url
    run_async(lambda: _execute(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_server.url_for(name)
    finally:
        # FORCE (PostgreSQL 13+) ends connections a failed test may have leaked.
        run_async(lambda: _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
