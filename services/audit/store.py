"""The asyncpg adapter for ``audit.events`` / ``audit.heads`` (SQL only; sealing is pure).

``append`` seals a batch in Python (``chain`` hashes) against the partition heads it knows
and hands the sealed rows to ``audit.append_sealed``, which locks each head row and stores
the rows only if they continue it: one statement, one round trip, and every partition's
chain stays linear however many writer processes there are (see migrations/0002).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from services.audit.chain import GENESIS, ChainHead, compute_hash_canonical
from services.audit.logic import (
    AuditEventData,
    KeyRing,
    StoredEvent,
    context_json,
    from_us,
    to_us,
)

_COLUMNS = (
    "partition, sequence, audit_id, key_id, prev_hash, integrity_hash, actor_user_id, "
    "actor_role, event_type, action, resource, resource_id, resident_id, phi_accessed, "
    "compliance_context, break_glass, outcome, trace_id, additional_context, occurred_at, "
    "recorded_at"
)


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


#: One round trip per batch: audit.append_sealed (migrations/0002) checks the heads and
#: stores the rows in one statement. Its status is "ok" or "stale".
_APPEND_SEALED = (
    "SELECT status, head_partition, head_sequence, head_hash FROM audit.append_sealed("
    + ", ".join(f"${i}" for i in range(1, 23))
    + ")"
)
#: Seal against the heads we know and let the database check them; after this many stale
#: answers (other processes keep writing the same partition) lock the heads first.
OPTIMISTIC_ATTEMPTS = 3
_AUDIT_ID_KEY = "events_audit_id_key"
_LOCKED_ATTEMPTS = 3


async def append(
    conn: asyncpg.Connection,
    events: Sequence[AuditEventData],
    keys: KeyRing,
    partition_of: Callable[[AuditEventData], str],
    *,
    heads: MutableMapping[str, ChainHead] | None = None,
    role: str = "",
) -> list[StoredEvent]:
    """Store ``events`` in order, atomically; an ``audit_id`` already stored, or repeated
    in the batch, comes back as first stored, not appended again.

    ``heads`` is the caller's cache of partition heads (updated here). Events are sealed
    against it and ``audit.append_sealed`` stores them only if every partition's head is
    still where the seals start, in one statement (one round trip, one commit when not
    inside a transaction). A stale head costs one more round trip; after
    ``OPTIMISTIC_ATTEMPTS`` of those the heads are locked before sealing, so a writer
    always gets through. ``role``, when set, is the database role the rows are written as.
    Runs its own statements and transactions: call it outside a transaction.
    """
    known: MutableMapping[str, ChainHead] = {} if heads is None else heads
    existing: dict[str, StoredEvent] = {}
    for attempt in range(OPTIMISTIC_ATTEMPTS + _LOCKED_ATTEMPTS):
        fresh = _first_new(events, existing)
        if not fresh:
            return [existing[e.audit_id] for e in events]
        try:
            partitions = [partition_of(e) for e in fresh]
            if attempt < OPTIMISTIC_ATTEMPTS:
                unknown = set(partitions) - known.keys()
                if unknown:  # first write here: read the head rather than guess
                    _remember(known, await _read_heads(conn, sorted(unknown)))
                sealed = _seal(fresh, partitions, known, keys)
                status, returned = await _append_sealed(conn, sealed, role)
            else:
                async with conn.transaction():
                    if role:
                        await conn.execute("SELECT set_config('role', $1, true)", role)
                    locked = await _lock_heads(conn, sorted(set(partitions)))
                    _remember(known, locked, force=True)
                    sealed = _seal(fresh, partitions, known, keys)
                    status, returned = await _append_sealed(conn, sealed, role)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _AUDIT_ID_KEY:
                raise
            # Some of these ids are stored already (a retried append): nothing of this
            # attempt was kept; return those as stored and append the rest.
            existing.update(await _fetch_existing(conn, [e.audit_id for e in fresh]))
            continue
        if status == "ok":
            _remember(known, returned)
            by_id = {s.data.audit_id: s for s in sealed} | existing
            return [by_id[e.audit_id] for e in events]
        _remember(known, returned, force=True)  # stale: seal again after the current heads
    raise RuntimeError(f"audit append of {len(events)} events did not settle; nothing stored")


def _first_new(
    events: Sequence[AuditEventData], existing: Mapping[str, StoredEvent]
) -> list[AuditEventData]:
    """The events still to store: not stored yet, first occurrence of each audit_id."""
    seen = set(existing)
    fresh: list[AuditEventData] = []
    for e in events:
        if e.audit_id not in seen:
            seen.add(e.audit_id)
            fresh.append(e)
    return fresh


def _seal(
    events: Sequence[AuditEventData],
    partitions: Sequence[str],
    heads: Mapping[str, ChainHead],
    keys: KeyRing,
) -> list[StoredEvent]:
    """Seal ``events`` (in ``partitions``, one each) after ``heads`` (a partition missing
    there is sealed as empty; the database refuses that as stale if it is not).
    Same hashes as ``chain.seal``, from the events' own canonical text."""
    current = dict(heads)
    key_id, key = keys.active_id, keys.active_key
    out: list[StoredEvent] = []
    for e, partition in zip(events, partitions, strict=True):
        head = current.get(partition) or ChainHead()
        sequence = head.sequence + 1
        record_hash = compute_hash_canonical(
            key,
            partition=partition,
            sequence=sequence,
            audit_id=e.audit_id,
            key_id=key_id,
            content_json=e.canonical_content(),
            prev_hash=head.record_hash,
        )
        current[partition] = ChainHead(sequence, record_hash)
        out.append(StoredEvent(e, partition, sequence, head.record_hash, record_hash, key_id))
    return out


def _remember(
    known: MutableMapping[str, ChainHead], heads: Mapping[str, ChainHead], *, force: bool = False
) -> None:
    """Update the head cache. Without ``force`` only forward: a slower concurrent append
    that finishes last must not move the cache back (that would only cost a retry)."""
    for partition, head in heads.items():
        old = known.get(partition)
        if force or old is None or head.sequence > old.sequence:
            known[partition] = head


async def _append_sealed(
    conn: asyncpg.Connection, sealed: Sequence[StoredEvent], role: str
) -> tuple[str, dict[str, ChainHead]]:
    """("ok", heads after the batch) or ("stale", heads as they are; nothing stored)."""
    columns = list(zip(*(_row_of(s) for s in sealed), strict=True))
    rows = await conn.fetch(_APPEND_SEALED, role, *columns)
    heads = {r["head_partition"]: ChainHead(r["head_sequence"], r["head_hash"]) for r in rows}
    return rows[0]["status"], heads


async def _read_heads(conn: asyncpg.Connection, partitions: Sequence[str]) -> dict[str, ChainHead]:
    """The heads of ``partitions`` as they are now (a partition without one is empty)."""
    rows = await conn.fetch(
        """SELECT partition, sequence, record_hash FROM audit.heads
           WHERE partition = ANY($1::text[])""",
        partitions,
    )
    found = {r["partition"]: ChainHead(r["sequence"], r["record_hash"]) for r in rows}
    return {p: found.get(p, ChainHead()) for p in partitions}


async def _lock_heads(conn: asyncpg.Connection, partitions: Sequence[str]) -> dict[str, ChainHead]:
    """Lock the heads of ``partitions`` (creating missing ones at genesis) in sorted order,
    for the rest of the transaction, and return them."""
    await conn.execute(
        """INSERT INTO audit.heads (partition, sequence, record_hash)
           SELECT p, 0, $2 FROM unnest($1::text[]) AS p ORDER BY p
           ON CONFLICT (partition) DO NOTHING""",
        partitions,
        GENESIS,
    )
    rows = await conn.fetch(
        """SELECT partition, sequence, record_hash FROM audit.heads
           WHERE partition = ANY($1::text[]) ORDER BY partition FOR UPDATE""",
        partitions,
    )
    return {r["partition"]: ChainHead(r["sequence"], r["record_hash"]) for r in rows}


async def _fetch_existing(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, StoredEvent]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit.events WHERE audit_id = ANY($1::text[])", list(ids)
    )
    return {r["audit_id"]: row_to_event(r) for r in rows}


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
        context_json(d.additional_context)
        or json.dumps(dict(d.additional_context), sort_keys=True),
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
