from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from mesh.db import create_pool, migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "memory" / "migrations"


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_database)
    await migrate(pool, "memory", MIGRATIONS)
    yield pool
    await pool.close()
