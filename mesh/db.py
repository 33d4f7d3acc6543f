"""PostgreSQL for services: one asyncpg pool and forward-only SQL migrations.

Each service keeps its migrations as ``services/<name>/migrations/NNNN_title.sql``
and its own schema (``CREATE SCHEMA IF NOT EXISTS <name>`` in its first file).
``migrate`` applies the files not yet recorded in ``lilo_migrations``, each in a
transaction, under an advisory lock so instances starting together never race.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import asyncpg

from mesh.errors import ConfigError

log = logging.getLogger(__name__)

_LOCK_ID = 0x11105E5  # advisory lock shared by every migrating process


def database_url_from_env() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise ConfigError("DATABASE_URL is not set (scripts/up sets it for the embedded server)")
    return url


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size)
    assert pool is not None
    return pool


def migration_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.name[:4].isdigit())


async def migrate(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, component: str, directory: Path
) -> list[str]:
    """Apply ``directory``'s pending migrations for ``component``; return the names applied.

    A migration file whose content changed after it was applied is refused: migrations
    are forward-only, so write a new file instead.
    """

    async def run(conn: asyncpg.Connection) -> list[str]:
        applied: list[str] = []
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS lilo_migrations (
                       component text NOT NULL, name text NOT NULL, sha256 text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, name))"""
            )
            done = {
                r["name"]: r["sha256"]
                for r in await conn.fetch(
                    "SELECT name, sha256 FROM lilo_migrations WHERE component = $1", component
                )
            }
            for path in migration_files(directory):
                sql = path.read_text()
                digest = hashlib.sha256(sql.encode()).hexdigest()
                if path.name in done:
                    if done[path.name] != digest:
                        raise ConfigError(
                            f"migration {component}/{path.name} changed after it was applied"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO lilo_migrations (component, name, sha256) VALUES ($1, $2, $3)",
                        component,
                        path.name,
                        digest,
                    )
                applied.append(path.name)
                log.info("applied migration %s/%s", component, path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
        return applied

    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await run(conn)
    return await run(pool_or_conn)
