"""asyncpg adapter for the ``relationships`` schema. SQL only; rules live in ``logic``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.relationships.logic import Cursor, RelationshipRow

_COLUMNS = (
    "relationship_id, resident_id, related_user_id, kind, consent_level, created_by,"
    " created_at, updated_at, deleted_at"
)


class DuplicateActive(Exception):
    """The (user, resident) pair already has a relationship in force."""


def _row(record: asyncpg.Record) -> RelationshipRow:
    return RelationshipRow(**dict(record))


class RelationshipStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, row: RelationshipRow) -> RelationshipRow:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                record = await conn.fetchrow(
                    f"""INSERT INTO relationships.relationships ({_COLUMNS})
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL) RETURNING {_COLUMNS}""",
                    row.relationship_id,
                    row.resident_id,
                    row.related_user_id,
                    row.kind,
                    row.consent_level,
                    row.created_by,
                    row.created_at,
                    row.updated_at,
                )
                await conn.execute(
                    """INSERT INTO relationships.relationship_changes
                       (relationship_id, changed_at, actor, change, new_consent)
                       VALUES ($1, $2, $3, 'created', $4)""",
                    row.relationship_id,
                    row.created_at,
                    row.created_by,
                    row.consent_level,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "relationships_one_active":
                raise DuplicateActive() from None
            raise
        assert record is not None
        return _row(record)

    async def get(self, relationship_id: str) -> RelationshipRow | None:
        record = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM relationships.relationships WHERE relationship_id = $1",
            relationship_id,
        )
        return _row(record) if record is not None else None

    async def active_for(self, user_id: str, resident_id: str) -> RelationshipRow | None:
        record = await self._pool.fetchrow(
            f"""SELECT {_COLUMNS} FROM relationships.relationships
                WHERE related_user_id = $1 AND resident_id = $2 AND deleted_at IS NULL""",
            user_id,
            resident_id,
        )
        return _row(record) if record is not None else None

    async def list_page(
        self,
        *,
        resident_id: str | None,
        related_user_id: str | None,
        kinds: Sequence[int],
        include_deleted: bool,
        visible_residents: Sequence[str] | None,
        after: Cursor | None,
        limit: int,
    ) -> list[RelationshipRow]:
        """Oldest first by (created_at, relationship_id); ``limit`` rows after ``after``."""
        records = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM relationships.relationships
                WHERE ($1::text IS NULL OR resident_id = $1)
                  AND ($2::text IS NULL OR related_user_id = $2)
                  AND (cardinality($3::smallint[]) = 0 OR kind = ANY($3))
                  AND ($4 OR deleted_at IS NULL)
                  AND ($5::text[] IS NULL OR resident_id = ANY($5))
                  AND ($6::timestamptz IS NULL OR (created_at, relationship_id) > ($6, $7))
                ORDER BY created_at, relationship_id
                LIMIT $8""",
            resident_id,
            related_user_id,
            list(kinds),
            include_deleted,
            list(visible_residents) if visible_residents is not None else None,
            _from_micros(after.created_at_us) if after else None,
            after.relationship_id if after else "",
            limit,
        )
        return [_row(r) for r in records]

    async def set_consent(
        self, relationship_id: str, level: int, now: datetime, actor: str, reason: str
    ) -> RelationshipRow | None:
        """Change the level of a relationship in force; None if it is not in force."""
        async with self._pool.acquire() as conn, conn.transaction():
            old = await conn.fetchval(
                """SELECT consent_level FROM relationships.relationships
                   WHERE relationship_id = $1 AND deleted_at IS NULL FOR UPDATE""",
                relationship_id,
            )
            if old is None:
                return None
            record = await conn.fetchrow(
                f"""UPDATE relationships.relationships SET consent_level = $2, updated_at = $3
                    WHERE relationship_id = $1 RETURNING {_COLUMNS}""",
                relationship_id,
                level,
                now,
            )
            if old != level:
                await conn.execute(
                    """INSERT INTO relationships.relationship_changes
                       (relationship_id, changed_at, actor, change, old_consent, new_consent,
                        reason)
                       VALUES ($1, $2, $3, 'consent_level', $4, $5, $6)""",
                    relationship_id,
                    now,
                    actor,
                    old,
                    level,
                    reason,
                )
        assert record is not None
        return _row(record)

    async def delete(
        self, relationship_id: str, now: datetime, actor: str, reason: str
    ) -> RelationshipRow | None:
        """Tombstone the relationship (idempotent); None if it does not exist."""
        async with self._pool.acquire() as conn, conn.transaction():
            record = await conn.fetchrow(
                f"""UPDATE relationships.relationships SET deleted_at = $2, updated_at = $2
                    WHERE relationship_id = $1 AND deleted_at IS NULL RETURNING {_COLUMNS}""",
                relationship_id,
                now,
            )
            if record is None:
                return await self.get(relationship_id)
            await conn.execute(
                """INSERT INTO relationships.relationship_changes
                   (relationship_id, changed_at, actor, change, reason)
                   VALUES ($1, $2, $3, 'deleted', $4)""",
                relationship_id,
                now,
                actor,
                reason,
            )
        return _row(record)

    async def changes(self, relationship_id: str) -> list[asyncpg.Record]:
        """The audit trail of one relationship, oldest first."""
        records: list[asyncpg.Record] = await self._pool.fetch(
            """SELECT changed_at, actor, change, old_consent, new_consent, reason
               FROM relationships.relationship_changes WHERE relationship_id = $1
               ORDER BY change_id""",
            relationship_id,
        )
        return records


def _from_micros(micros: int) -> datetime:
    from datetime import UTC, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
