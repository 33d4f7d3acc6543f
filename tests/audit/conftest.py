"""Fixtures for audit tests: a migrated database and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from audit_helpers import MIGRATIONS

from mesh.clock import FakeClock
from mesh.db import create_pool, migrate


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(fresh_database, max_size=8)
    await migrate(p, "audit", MIGRATIONS)
    try:
        yield p
    finally:
        await p.close()
