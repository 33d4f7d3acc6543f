"""A migrated ``tasks`` schema on a fresh real PostgreSQL database, and a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from mesh.clock import FakeClock
from mesh.db import migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "tasks" / "migrations"


@pytest.fixture
async def task_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(fresh_database, min_size=1, max_size=10)
    assert pool is not None
    await migrate(pool, "tasks", MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
