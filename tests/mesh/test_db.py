"""Migrations against a real PostgreSQL: applied once, in order, and never edited."""

from pathlib import Path

import asyncpg
import pytest

from mesh.db import migrate
from mesh.errors import ConfigError


async def test_migrations_apply_once_in_order(fresh_database: str, tmp_path: Path) -> None:
    (tmp_path / "0001_schema.sql").write_text("CREATE SCHEMA demo; CREATE TABLE demo.t (x int);")
    (tmp_path / "0002_row.sql").write_text("INSERT INTO demo.t VALUES (1);")
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await migrate(conn, "demo", tmp_path) == ["0001_schema.sql", "0002_row.sql"]
        assert await migrate(conn, "demo", tmp_path) == []
        assert await conn.fetchval("SELECT count(*) FROM demo.t") == 1
        (tmp_path / "0002_row.sql").write_text("INSERT INTO demo.t VALUES (2);")
        with pytest.raises(ConfigError, match="changed after it was applied"):
            await migrate(conn, "demo", tmp_path)
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing_half_done(
    fresh_database: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_bad.sql").write_text("CREATE TABLE ok (x int); SELECT * FROM missing;")
    conn = await asyncpg.connect(fresh_database)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await migrate(conn, "bad", tmp_path)
        assert await conn.fetchval("SELECT to_regclass('ok')") is None
    finally:
        await conn.close()
