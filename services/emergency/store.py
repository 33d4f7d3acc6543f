"""The asyncpg adapter for ``emergency.accesses`` (SQL only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, fields
from datetime import datetime
from typing import Any

import asyncpg

from services.emergency.logic import Access

_NAMES = [f.name for f in fields(Access)]
_COLS = ", ".join(_NAMES)


def _access(row: Mapping[str, Any]) -> Access:
    return Access(**{n: row[n] for n in _NAMES})


async def insert(conn: asyncpg.Connection | asyncpg.Pool, a: Access) -> None:
    marks = ", ".join(f"${i}" for i in range(1, len(_NAMES) + 1))
    await conn.execute(f"INSERT INTO emergency.accesses ({_COLS}) VALUES ({marks})", *astuple(a))


async def get(
    conn: asyncpg.Connection | asyncpg.Pool, access_id: str, *, for_update: bool = False
) -> Access | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM emergency.accesses WHERE access_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        access_id,
    )
    return _access(row) if row else None


async def save(conn: asyncpg.Connection, a: Access) -> None:
    """Write the review/revocation columns (the grant itself never changes)."""
    await conn.execute(
        """UPDATE emergency.accesses SET review_status = $2, reviewed_by = $3, review_note = $4,
           reviewed_at = $5, revoked_at = $6, revoked_by = $7, revoke_reason = $8
           WHERE access_id = $1""",
        a.access_id,
        a.review_status,
        a.reviewed_by,
        a.review_note,
        a.reviewed_at,
        a.revoked_at,
        a.revoked_by,
        a.revoke_reason,
    )


async def list_accesses(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    pending_only: bool,
    active_at: datetime | None,
    user_id: str,
    patient_id: str,
    organization_id: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Access]:
    where: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.replace("?", f"${len(args)}"))

    if pending_only:
        where.append("review_status = 'pending'")
    if active_at is not None:
        add("revoked_at IS NULL AND expires_at > ?", active_at)
    if user_id:
        add("user_id = ?", user_id)
    if patient_id:
        add("patient_id = ?", patient_id)
    if organization_id is not None:
        add("organization_id = ?", organization_id)
    if after is not None:
        args.extend(after)
        where.append(f"(granted_at, access_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM emergency.accesses"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY granted_at DESC, access_id DESC LIMIT ${len(args)}",
        *args,
    )
    return [_access(r) for r in rows]
