"""The asyncpg adapter for ``audit.events`` / ``audit.heads`` (SQL only; sealing is pure).

``append`` must run inside a transaction on one connection: it takes a transaction-level
advisory lock per partition (in sorted order, so concurrent writers never deadlock), reads
the partition head, seals with ``chain.seal`` and inserts, so every partition's chain
stays linear however many writers there are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from services.audit.chain import ChainHead, seal
from services.audit.logic import AuditEventData, KeyRing, StoredEvent, from_us, to_us

_COLUMNS = (
    "partition, sequence, audit_id, key_id, prev_hash, integrity_hash, actor_user_id, "
    "actor_role, event_type, action, resource, resource_id, resident_id, phi_accessed, "
    "compliance_context, break_glass, outcome, trace_id, additional_context, occurred_at, "
    "recorded_at"
)


def _lock_key(partition: str) -> str:
    return f"lilo.audit:{partition}"


def row_to_event(row: Mapping[str, Any]) -> StoredEvent:
    context = row["additional_context"]
    if isinstance(context, str):
        context = json.loads(context)
    data = AuditEventData(
        audit_id=row["audit_id"],
        actor_user_id=row["actor_user_id"],
        actor_role=row["actor_role"],
        event_type=row["event_type"],
        action=row["action"],
        resource=row["resource"],
        outcome=row["outcome"],
        occurred_at_us=to_us(row["occurred_at"]),
        recorded_at_us=to_us(row["recorded_at"]),
        resource_id=row["resource_id"],
        resident_id=row["resident_id"],
        phi_accessed=row["phi_accessed"],
        compliance_context=row["compliance_context"],
        break_glass=row["break_glass"],
        trace_id=row["trace_id"],
        additional_context={str(k): str(v) for k, v in dict(context).items()},
    )
    return StoredEvent(
        data=data,
        partition=row["partition"],
        sequence=row["sequence"],
        prev_hash=row["prev_hash"],
        integrity_hash=row["integrity_hash"],
        key_id=row["key_id"],
    )


async def append(
    conn: asyncpg.Connection,
    events: Sequence[AuditEventData],
    keys: KeyRing,
    partition_of: Callable[[AuditEventData], str],
) -> list[StoredEvent]:
    """Store ``events`` in order (call inside a transaction); an ``audit_id`` already
    stored, or repeated in the batch, comes back as first stored, not appended again."""
    ids = list({e.audit_id for e in events})
    existing = {
        r["audit_id"]: row_to_event(r)
        for r in await conn.fetch(
            f"SELECT {_COLUMNS} FROM audit.events WHERE audit_id = ANY($1::text[])", ids
        )
    }
    fresh: list[AuditEventData] = []
    seen = set(existing)
    for e in events:
        if e.audit_id not in seen:
            seen.add(e.audit_id)
            fresh.append(e)
    by_partition: dict[str, list[AuditEventData]] = {}
    for e in fresh:
        by_partition.setdefault(partition_of(e), []).append(e)

    sealed: dict[str, StoredEvent] = {}
    rows: list[tuple[Any, ...]] = []
    for partition in sorted(by_partition):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key(partition)
        )
        head_row = await conn.fetchrow(
            "SELECT sequence, record_hash FROM audit.heads WHERE partition = $1", partition
        )
        head = ChainHead(head_row["sequence"], head_row["record_hash"]) if head_row else None
        for e in by_partition[partition]:
            rec = seal(
                head,
                partition=partition,
                audit_id=e.audit_id,
                content=e.content(),
                key_id=keys.active_id,
                key=keys.active_key,
            )
            head = rec.head
            stored = StoredEvent(
                e, partition, rec.sequence, rec.prev_hash, rec.record_hash, rec.key_id
            )
            sealed[e.audit_id] = stored
            rows.append(_row_of(stored))
        assert head is not None
        await conn.execute(
            """INSERT INTO audit.heads (partition, sequence, record_hash, updated_at)
               VALUES ($1, $2, $3, now())
               ON CONFLICT (partition) DO UPDATE
               SET sequence = EXCLUDED.sequence, record_hash = EXCLUDED.record_hash,
                   updated_at = now()""",
            partition,
            head.sequence,
            head.record_hash,
        )
    if rows:
        await conn.copy_records_to_table(
            "events",
            schema_name="audit",
            columns=[c.strip() for c in _COLUMNS.split(",")],
            records=rows,
        )
    out = []
    for e in events:
        out.append(existing.get(e.audit_id) or sealed[e.audit_id])
    return out


def _row_of(s: StoredEvent) -> tuple[Any, ...]:
    d = s.data
    return (
        s.partition,
        s.sequence,
        d.audit_id,
        s.key_id,
        s.prev_hash,
        s.integrity_hash,
        d.actor_user_id,
        d.actor_role,
        d.event_type,
        d.action,
        d.resource,
        d.resource_id,
        d.resident_id,
        d.phi_accessed,
        d.compliance_context,
        d.break_glass,
        d.outcome,
        d.trace_id,
        json.dumps(dict(d.additional_context), sort_keys=True),
        from_us(d.occurred_at_us),
        from_us(d.recorded_at_us),
    )


@dataclass(frozen=True, slots=True)
class EventFilter:
    """QueryEvents filters; ``residents`` (from RBAC) restricts to those residents."""

    actor_user_id: str = ""
    resource: str = ""
    resource_id: str = ""
    resident_id: str = ""
    phi_only: bool = False
    start: datetime | None = None
    end: datetime | None = None
    residents: frozenset[str] | None = None


async def query(
    conn: asyncpg.Connection | asyncpg.Pool,
    f: EventFilter,
    *,
    limit: int,
    after: tuple[datetime, int] | None,
) -> list[tuple[StoredEvent, int]]:
    """Events matching ``f``, newest first, after the keyset position ``after``;
    each with its row id for the next page token."""
    where: list[str] = []
    args: list[Any] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.replace("?", f"${len(args)}"))

    if f.actor_user_id:
        add("actor_user_id = ?", f.actor_user_id)
    if f.resource:
        add("resource = ?", f.resource)
    if f.resource_id:
        add("resource_id = ?", f.resource_id)
    if f.resident_id:
        add("resident_id = ?", f.resident_id)
    if f.phi_only:
        where.append("phi_accessed")
    if f.start is not None:
        add("occurred_at >= ?", f.start)
    if f.end is not None:
        add("occurred_at < ?", f.end)
    if f.residents is not None:
        add("resident_id = ANY(?::text[])", sorted(f.residents))
    if after is not None:
        args.extend(after)
        where.append(f"(occurred_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit)
    sql = (
        f"SELECT id, {_COLUMNS} FROM audit.events"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY occurred_at DESC, id DESC LIMIT ${len(args)}"
    )
    return [(row_to_event(r), r["id"]) for r in await conn.fetch(sql, *args)]


async def read_partition(
    conn: asyncpg.Connection | asyncpg.Pool, partition: str
) -> tuple[list[StoredEvent], ChainHead | None]:
    """Every event of ``partition`` in stored sequence order, and the recorded head."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit.events WHERE partition = $1 ORDER BY sequence, id",
        partition,
    )
    head = await conn.fetchrow(
        "SELECT sequence, record_hash FROM audit.heads WHERE partition = $1", partition
    )
    return [row_to_event(r) for r in rows], (
        ChainHead(head["sequence"], head["record_hash"]) if head else None
    )


def with_recorded_at(event: AuditEventData, recorded_at_us: int) -> AuditEventData:
    return replace(event, recorded_at_us=recorded_at_us)
