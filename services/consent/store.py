"""The asyncpg adapter for ``consent.grants`` and ``consent.history`` (SQL only).

Mutations run in one transaction and take an advisory lock per (resident, grantee,
category), so two concurrent grants cannot both stay active.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.consent.logic import Grant, effective

_COLS = (
    "consent_id, resident_id, grantee_id, data_category, granted_by, grantor_kind, purpose, "
    "status, granted_at, expires_at, revoked_at, revoked_by, superseded_by"
)


def _grant(row: Mapping[str, Any]) -> Grant:
    return Grant(
        consent_id=row["consent_id"],
        resident_id=row["resident_id"],
        grantee_id=row["grantee_id"],
        category=row["data_category"],
        granted_by=row["granted_by"],
        grantor_kind=row["grantor_kind"],
        purpose=row["purpose"],
        status=row["status"],
        granted_at=row["granted_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        superseded_by=row["superseded_by"],
    )


async def _history(
    conn: asyncpg.Connection, grant: Grant, change: str, actor: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        """INSERT INTO consent.history
             (entry_id, consent_id, resident_id, change, grant_state, actor_id, reason, occurred_at)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)""",
        uuid.uuid4().hex,
        grant.consent_id,
        grant.resident_id,
        change,
        json.dumps(grant.to_json()),
        actor,
        reason,
        now,
    )


async def _set_status(
    conn: asyncpg.Connection, consent_id: str, status: str, **extra: Any
) -> Grant:
    sets = ["status = $2"]
    args: list[Any] = [consent_id, status]
    for column, value in extra.items():
        args.append(value)
        sets.append(f"{column} = ${len(args)}")
    row = await conn.fetchrow(
        f"UPDATE consent.grants SET {', '.join(sets)} WHERE consent_id = $1 RETURNING {_COLS}",
        *args,
    )
    return _grant(row)


async def expire_due(conn: asyncpg.Connection, resident_id: str, now: datetime) -> None:
    """Write down expiries that have happened (status + a 'system' history entry)."""
    rows = await conn.fetch(
        f"""UPDATE consent.grants SET status = 'expired'
            WHERE resident_id = $1 AND status = 'active' AND expires_at <= $2
            RETURNING {_COLS}""",
        resident_id,
        now,
    )
    for row in rows:
        await _history(conn, _grant(row), "expired", "system", "expiry time passed", now)


async def grant(conn: asyncpg.Connection, new: Grant, now: datetime) -> Grant:
    """Store ``new`` (status active), superseding the active grant it replaces."""
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"lilo.consent:{new.resident_id}:{new.grantee_id}:{new.category}",
        )
        await expire_due(conn, new.resident_id, now)
        old = await conn.fetchrow(
            f"""SELECT {_COLS} FROM consent.grants WHERE resident_id = $1 AND grantee_id = $2
                AND data_category = $3 AND status = 'active' FOR UPDATE""",
            new.resident_id,
            new.grantee_id,
            new.category,
        )
        if old is not None:
            replaced = await _set_status(
                conn, old["consent_id"], "superseded", superseded_by=new.consent_id
            )
            await _history(conn, replaced, "superseded", new.granted_by, "new grant", now)
        row = await conn.fetchrow(
            f"""INSERT INTO consent.grants ({_COLS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, NULL, '', '')
                RETURNING {_COLS}""",
            new.consent_id,
            new.resident_id,
            new.grantee_id,
            new.category,
            new.granted_by,
            new.grantor_kind,
            new.purpose,
            new.granted_at,
            new.expires_at,
        )
        stored = _grant(row)
        await _history(conn, stored, "granted", new.granted_by, new.purpose, now)
        return stored


async def revoke(
    conn: asyncpg.Connection,
    resident_id: str,
    consent_id: str,
    actor: str,
    reason: str,
    now: datetime,
) -> Grant | None:
    """End an active grant now; None if the resident has no such grant. A grant that is
    no longer active comes back unchanged."""
    async with conn.transaction():
        await expire_due(conn, resident_id, now)
        row = await conn.fetchrow(
            f"SELECT {_COLS} FROM consent.grants WHERE consent_id = $1 AND resident_id = $2"
            " FOR UPDATE",
            consent_id,
            resident_id,
        )
        if row is None:
            return None
        current = _grant(row)
        if current.status != "active":
            return current
        ended = await _set_status(conn, consent_id, "revoked", revoked_at=now, revoked_by=actor)
        await _history(conn, ended, "revoked", actor, reason, now)
        return ended


async def get(conn: asyncpg.Connection | asyncpg.Pool, consent_id: str) -> Grant | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM consent.grants WHERE consent_id = $1", consent_id
    )
    return _grant(row) if row else None


async def list_grants(
    conn: asyncpg.Connection | asyncpg.Pool,
    resident_id: str,
    *,
    grantee_id: str,
    categories: Sequence[str],
    include_inactive: bool,
    now: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[Grant]:
    where = ["resident_id = $1"]
    args: list[Any] = [resident_id]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.replace("?", f"${len(args)}"))

    if grantee_id:
        add("grantee_id = ?", grantee_id)
    if categories:
        add("data_category = ANY(?::text[])", list(categories))
    if not include_inactive:
        add("status = 'active' AND (expires_at IS NULL OR expires_at > ?)", now)
    if after is not None:
        args.extend(after)
        where.append(f"(granted_at, consent_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM consent.grants WHERE {' AND '.join(where)}"
        f" ORDER BY granted_at DESC, consent_id DESC LIMIT ${len(args)}",
        *args,
    )
    return [effective(_grant(r), now) for r in rows]


async def history(
    conn: asyncpg.Connection | asyncpg.Pool,
    resident_id: str,
    *,
    consent_id: str,
    limit: int,
    after_seq: int,
) -> list[tuple[int, str, str, Grant, str, str, datetime]]:
    """(seq, entry_id, change, grant, actor, reason, occurred_at), oldest first."""
    args: list[Any] = [resident_id, after_seq, limit]
    extra = ""
    if consent_id:
        args.append(consent_id)
        extra = " AND consent_id = $4"
    rows = await conn.fetch(
        "SELECT seq, entry_id, change, grant_state, actor_id, reason, occurred_at"
        " FROM consent.history WHERE resident_id = $1 AND seq > $2"
        + extra
        + " ORDER BY seq LIMIT $3",
        *args,
    )
    out = []
    for r in rows:
        state = r["grant_state"]
        g = Grant.from_json(json.loads(state) if isinstance(state, str) else state)
        out.append(
            (r["seq"], r["entry_id"], r["change"], g, r["actor_id"], r["reason"], r["occurred_at"])
        )
    return out


async def active_grant(
    conn: asyncpg.Connection | asyncpg.Pool,
    resident_id: str,
    grantee_id: str,
    category: str,
    now: datetime,
) -> Grant | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLS} FROM consent.grants WHERE resident_id = $1 AND grantee_id = $2
            AND data_category = $3 AND status = 'active'
            AND (expires_at IS NULL OR expires_at > $4)""",
        resident_id,
        grantee_id,
        category,
        now,
    )
    return _grant(row) if row else None
