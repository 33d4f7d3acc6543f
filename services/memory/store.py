"""asyncpg adapter for the ``memory`` schema. SQL only; rules live in ``logic``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.memory.logic import START_MARK, STOP_MARK, Cursor, MemoryRow, from_micros

_COLUMNS = (
    "memory_id, user_id, type, content, tags, metadata, created_at, access_count,"
    " last_accessed_at, deleted_at"
)
_HEADLINE_OPTIONS = (
    f'StartSel="{START_MARK}", StopSel="{STOP_MARK}", MaxWords=35, MinWords=15, ShortWord=2'
)


@dataclass(frozen=True)
class Hit:
    memory: MemoryRow
    score: float
    headline: str


def _row(r: asyncpg.Record) -> MemoryRow:
    return MemoryRow(
        memory_id=r["memory_id"],
        user_id=r["user_id"],
        type=r["type"],
        content=r["content"],
        tags=tuple(r["tags"]),
        metadata=json.loads(r["metadata"]),
        created_at=r["created_at"],
        access_count=r["access_count"],
        last_accessed_at=r["last_accessed_at"],
        deleted_at=r["deleted_at"],
    )


class MemoryStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, row: MemoryRow) -> MemoryRow:
        r = await self._pool.fetchrow(
            f"""INSERT INTO memory.memories
                (memory_id, user_id, type, content, tags, metadata, created_at)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING {_COLUMNS}""",
            row.memory_id,
            row.user_id,
            row.type,
            row.content,
            list(row.tags),
            json.dumps(dict(row.metadata)),
            row.created_at,
        )
        assert r is not None
        return _row(r)

    async def get(self, memory_id: str) -> MemoryRow | None:
        """The row, tombstone or not, without counting a read."""
        r = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM memory.memories WHERE memory_id = $1", memory_id
        )
        return _row(r) if r is not None else None

    async def count_read(self, memory_id: str, now: datetime) -> MemoryRow | None:
        """Increment the access count atomically; None if the memory is gone."""
        r = await self._pool.fetchrow(
            f"""UPDATE memory.memories
                SET access_count = access_count + 1, last_accessed_at = $2
                WHERE memory_id = $1 AND deleted_at IS NULL RETURNING {_COLUMNS}""",
            memory_id,
            now,
        )
        return _row(r) if r is not None else None

    async def erase(self, memory_id: str, now: datetime) -> None:
        """Erase content, tags and metadata; keep a tombstone. Idempotent."""
        await self._pool.execute(
            """UPDATE memory.memories SET content = '', tags = '{}', metadata = '{}',
                      deleted_at = $2
               WHERE memory_id = $1 AND deleted_at IS NULL""",
            memory_id,
            now,
        )

    async def list_page(
        self,
        user_id: str,
        *,
        types: Sequence[int],
        tags: Sequence[str],
        after: Cursor | None,
        limit: int,
    ) -> list[MemoryRow]:
        records = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM memory.memories
                WHERE user_id = $1 AND deleted_at IS NULL
                  AND (cardinality($2::smallint[]) = 0 OR type = ANY($2))
                  AND tags @> $3::text[]
                  AND ($4::timestamptz IS NULL OR (created_at, memory_id) < ($4, $5))
                ORDER BY created_at DESC, memory_id DESC
                LIMIT $6""",
            user_id,
            list(types),
            list(tags),
            from_micros(after.created_at_us) if after else None,
            after.memory_id if after else "",
            limit,
        )
        return [_row(r) for r in records]

    async def search(
        self, user_id: str, query: str, *, types: Sequence[int], tags: Sequence[str], limit: int
    ) -> list[Hit]:
        """Best first by ts_rank_cd (ties: newest first). Queries made only of stop words
        match nothing."""
        records = await self._pool.fetch(
            f"""WITH q AS (SELECT websearch_to_tsquery('english', $2) AS query)
                SELECT {_COLUMNS},
                       ts_rank_cd(m.search_vector, q.query) AS score,
                       ts_headline('english',
                                   translate(m.content, $6, ''), q.query, $7) AS headline
                FROM memory.memories m, q
                WHERE m.user_id = $1 AND m.deleted_at IS NULL
                  AND m.search_vector @@ q.query
                  AND (cardinality($3::smallint[]) = 0 OR m.type = ANY($3))
                  AND m.tags @> $4::text[]
                ORDER BY score DESC, m.created_at DESC, m.memory_id
                LIMIT $5""",
            user_id,
            query,
            list(types),
            list(tags),
            limit,
            START_MARK + STOP_MARK,
            _HEADLINE_OPTIONS,
        )
        return [Hit(_row(r), float(r["score"]), r["headline"]) for r in records]
