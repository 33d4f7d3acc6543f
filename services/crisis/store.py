"""PostgreSQL adapter of the crisis service (schema ``crisis``): SQL only.

Every transaction that appends to ``crisis.events`` takes the feed's advisory lock
(``pg_advisory_xact_lock(FEED_LOCK)``) and numbers the event ``max(seq) + 1`` while holding
it. The lock is released only after the commit is visible, so events become visible in
``seq`` order and ``seq`` has no holes: whoever can see event N can see every event
before it. The feed reader (``events_between``) relies on exactly that.

Lock order, everywhere: alert row (``FOR UPDATE``), then the feed lock. Nobody waits for
a row lock while holding the feed lock, so the two cannot deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import asyncpg
from lilo.crisis.v1 import crisis_service_pb2 as pb

from services.crisis import AlertNotFound, IdempotencyConflict
from services.crisis.access import Visibility
from services.crisis.convert import alert_to_pb, event_to_pb
from services.crisis.logic import (
    AlertRecord,
    AlertState,
    Change,
    EventType,
    Level,
    Tier,
)

log = logging.getLogger(__name__)

__all__ = ["FEED_LOCK", "ClaimedDelivery", "CrisisStore", "FeedFilter", "StoredEvent"]

#: Advisory lock key of the crisis feed ("crisis" in leetspeak-ish hex; any constant works
#: as long as every writer uses the same one).
FEED_LOCK = 0x0C515F33D

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALERT_COLUMNS = (
    "alert_id, organization_id, resident_id, source, level, categories, excerpt, trace_id,"
    " state, tier, acknowledged_by, created_at, updated_at, next_escalation_at"
)


def _dt(epoch: float) -> datetime:
    return _EPOCH + timedelta(microseconds=round(epoch * 1_000_000))


def _epoch(value: datetime) -> float:
    return (value - _EPOCH) / timedelta(microseconds=1) / 1_000_000


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _record(row: asyncpg.Record) -> AlertRecord:
    nxt = row["next_escalation_at"]
    return AlertRecord(
        alert_id=str(row["alert_id"]),
        organization_id=row["organization_id"],
        resident_id=row["resident_id"],
        source=row["source"],
        level=Level(row["level"]),
        categories=tuple(row["categories"]),
        excerpt=row["excerpt"],
        trace_id=row["trace_id"],
        state=AlertState(row["state"]),
        tier=Tier(row["tier"]),
        acknowledged_by=row["acknowledged_by"],
        created_at=_epoch(row["created_at"]),
        updated_at=_epoch(row["updated_at"]),
        next_escalation_at=None if nxt is None else _epoch(nxt),
    )


@dataclass(frozen=True, kw_only=True)
class StoredEvent:
    """One committed feed entry, with the fields watchers filter on."""

    seq: int
    type: EventType
    alert: bytes
    actor: str
    reason: str
    occurred_at: float
    organization_id: str
    resident_id: str
    level: int

    def to_pb(self) -> pb.AlertEvent:
        return event_to_pb(
            self.seq, int(self.type), self.alert, self.actor, self.reason, self.occurred_at
        )

    @cached_property
    def watch_response(self) -> pb.WatchAlertsResponse:
        """The ``WatchAlerts`` message for this event, built on first use and then shared:
        a live event is one object handed to every stream of the instance, so a fan-out to
        N watchers parses the alert once instead of N times. Treat it as read-only (grpc
        only serializes it)."""
        return pb.WatchAlertsResponse(event=self.to_pb())


@dataclass(frozen=True, kw_only=True)
class FeedFilter:
    """Which events a watcher may and wants to see. ``None`` fields do not restrict."""

    residents: frozenset[str] | None = None
    organization_id: str | None = None
    min_level: int = 0

    def matches(self, organization_id: str, resident_id: str, level: int) -> bool:
        return (
            (self.residents is None or resident_id in self.residents)
            and (self.organization_id is None or organization_id == self.organization_id)
            and level >= self.min_level
        )


@dataclass(frozen=True, kw_only=True)
class ClaimedDelivery:
    id: int
    alert: AlertRecord
    tier: Tier
    notifier: str
    attempts: int
    """Attempts so far, including this one."""


class CrisisStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # -- writes --------------------------------------------------------------------------

    async def create(
        self,
        change: Change,
        *,
        actor: str,
        idempotency_key: str,
        notifiers: Sequence[str],
        now: float,
    ) -> tuple[AlertRecord, StoredEvent | None]:
        """Store a new alert, its CREATED event and its first deliveries in one transaction.

        With an idempotency key already used in the organisation, return the stored alert
        and no event (nothing new happened); for another resident raise
        ``IdempotencyConflict``.
        """
        a = change.alert
        assert change.event is EventType.CREATED
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await conn.fetchval(
                f"""INSERT INTO crisis.alerts ({_ALERT_COLUMNS}, idempotency_key)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                    ON CONFLICT (organization_id, idempotency_key) DO NOTHING
                    RETURNING alert_id""",
                a.alert_id,
                a.organization_id,
                a.resident_id,
                a.source,
                int(a.level),
                list(a.categories),
                a.excerpt,
                a.trace_id,
                int(a.state),
                int(a.tier),
                a.acknowledged_by,
                _dt(a.created_at),
                _dt(a.updated_at),
                None if a.next_escalation_at is None else _dt(a.next_escalation_at),
                idempotency_key or None,
            )
            if inserted is None:
                row = await conn.fetchrow(
                    f"""SELECT {_ALERT_COLUMNS} FROM crisis.alerts
                        WHERE organization_id = $1 AND idempotency_key = $2""",
                    a.organization_id,
                    idempotency_key,
                )
                assert row is not None
                existing = _record(row)
                if existing.resident_id != a.resident_id:
                    raise IdempotencyConflict(
                        "idempotency_key was already used for an alert about another resident"
                    )
                return existing, None
            event = await _append_event(conn, a, EventType.CREATED, actor, "", now)
            await _insert_deliveries(conn, a.alert_id, Tier.CARE_STAFF, notifiers, now)
        return a, event

    async def transition(
        self,
        alert_id: str,
        decide: Callable[[AlertRecord], Change],
        *,
        actor: str,
        visible: Visibility,
        notifiers: Sequence[str],
        now: float,
    ) -> tuple[AlertRecord, StoredEvent | None]:
        """Lock the alert, let ``decide`` (pure) change it, store the change and its event.

        ``decide`` may raise (an invalid transition): the transaction rolls back untouched.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {_ALERT_COLUMNS} FROM crisis.alerts WHERE alert_id = $1 FOR UPDATE",
                alert_id,
            )
            if row is None or not visible.allows(row["organization_id"], row["resident_id"]):
                raise AlertNotFound(f"alert {alert_id} not found")
            change = decide(_record(row))
            if change.event is None:
                return change.alert, None
            event = await self._apply(conn, change, actor, notifiers, now)
        return change.alert, event

    async def escalate_due(
        self,
        now: float,
        decide: Callable[[AlertRecord], Change],
        *,
        actor: str,
        notifiers: Sequence[str],
        limit: int,
    ) -> list[StoredEvent]:
        """Escalate up to ``limit`` alerts whose deadline is at or before ``now``.

        Each alert is claimed with ``FOR UPDATE SKIP LOCKED`` and changed in its own
        transaction together with its ESCALATED event and deliveries: two workers never
        fire the same step (the loser skips the locked row, or re-reads it as not due), a
        crashed worker's transaction rolls back and the deadline stays due, and one
        failing alert cannot hold up the others (it is skipped for the rest of this pass).
        """
        events: list[StoredEvent] = []
        failed: list[str] = []
        for _ in range(limit):
            claimed: str | None = None
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    row = await conn.fetchrow(
                        f"""SELECT {_ALERT_COLUMNS} FROM crisis.alerts
                            WHERE next_escalation_at <= $1 AND state = ANY($2::smallint[])
                              AND NOT (alert_id = ANY($3::uuid[]))
                            ORDER BY next_escalation_at
                            LIMIT 1
                            FOR UPDATE SKIP LOCKED""",
                        _dt(now),
                        [int(AlertState.OPEN), int(AlertState.ESCALATED)],
                        failed,
                    )
                    if row is None:
                        break
                    claimed = str(row["alert_id"])
                    change = decide(_record(row))
                    if change.event is None:
                        # Not escalatable after all (policy changed): clear the deadline
                        # so the row is not claimed again and again.
                        await _write_alert(conn, change.alert)
                        continue
                    events.append(await self._apply(conn, change, actor, notifiers, now))
            except (asyncpg.PostgresError, ValueError):
                if claimed is None:
                    raise
                log.exception("escalation of alert %s failed; skipped in this pass", claimed)
                failed.append(claimed)
        return events

    async def _apply(
        self,
        conn: asyncpg.Connection,
        change: Change,
        actor: str,
        notifiers: Sequence[str],
        now: float,
    ) -> StoredEvent:
        assert change.event is not None
        await _write_alert(conn, change.alert)
        event = await _append_event(conn, change.alert, change.event, actor, change.reason, now)
        if change.notify_tier is not None:
            await _insert_deliveries(
                conn, change.alert.alert_id, change.notify_tier, notifiers, now
            )
        return event

    # -- outbox --------------------------------------------------------------------------

    async def claim_deliveries(self, now: float, limit: int, lease: float) -> list[ClaimedDelivery]:
        """Take up to ``limit`` due deliveries; each is due again after ``lease`` seconds
        unless marked delivered or failed first (so a dead worker's claims are retried)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """UPDATE crisis.deliveries d
                   SET attempts = d.attempts + 1, next_attempt_at = $3
                   FROM (SELECT id FROM crisis.deliveries
                         WHERE status = 'pending' AND next_attempt_at <= $1
                         ORDER BY next_attempt_at, id
                         LIMIT $2
                         FOR UPDATE SKIP LOCKED) due
                   WHERE d.id = due.id
                   RETURNING d.id, d.alert_id, d.tier, d.notifier, d.attempts""",
                _dt(now),
                limit,
                _dt(now + lease),
            )
            if not rows:
                return []
            alerts = {
                str(r["alert_id"]): _record(r)
                for r in await conn.fetch(
                    f"SELECT {_ALERT_COLUMNS} FROM crisis.alerts WHERE alert_id = ANY($1::uuid[])",
                    list({r["alert_id"] for r in rows}),
                )
            }
        return [
            ClaimedDelivery(
                id=r["id"],
                alert=alerts[str(r["alert_id"])],
                tier=Tier(r["tier"]),
                notifier=r["notifier"],
                attempts=r["attempts"],
            )
            for r in sorted(rows, key=lambda r: r["id"])
        ]

    async def mark_delivered(
        self, delivery_id: int, *, actor: str, now: float
    ) -> StoredEvent | None:
        """Record a delivery and append its NOTIFIED event; None if it was already recorded."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE crisis.deliveries SET status = 'delivered', delivered_at = $2,
                          last_error = ''
                   WHERE id = $1 AND status = 'pending'
                   RETURNING alert_id, tier, notifier""",
                delivery_id,
                _dt(now),
            )
            if row is None:
                return None
            # Read the alert while holding the feed lock: every change to it appends an
            # event under the same lock, so this copy is exactly its state at our seq.
            await _lock_feed(conn)
            alert_row = await conn.fetchrow(
                f"SELECT {_ALERT_COLUMNS} FROM crisis.alerts WHERE alert_id = $1", row["alert_id"]
            )
            assert alert_row is not None
            reason = f"{row['notifier']} notified {Tier(row['tier']).name}"
            return await _append_event(
                conn, _record(alert_row), EventType.NOTIFIED, actor, reason, now
            )

    async def mark_failed(self, delivery_id: int, *, error: str, retry_at: float) -> None:
        await self.pool.execute(
            """UPDATE crisis.deliveries SET next_attempt_at = $2, last_error = $3
               WHERE id = $1 AND status = 'pending'""",
            delivery_id,
            _dt(retry_at),
            error[:500],
        )

    # -- reads ---------------------------------------------------------------------------

    async def get(self, alert_id: str) -> AlertRecord | None:
        row = await self.pool.fetchrow(
            f"SELECT {_ALERT_COLUMNS} FROM crisis.alerts WHERE alert_id = $1", alert_id
        )
        return None if row is None else _record(row)

    async def list_alerts(
        self,
        *,
        residents: Iterable[str] | None,
        organization_id: str | None,
        states: Sequence[int],
        min_level: int,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[tuple[AlertRecord, int]]:
        """Alerts newest first (created_at, alert_id descending) after the page position;
        each with its created_at in microseconds for the next page token."""
        rows = await self.pool.fetch(
            f"""SELECT {_ALERT_COLUMNS} FROM crisis.alerts
                WHERE ($1::text[] IS NULL OR resident_id = ANY($1::text[]))
                  AND ($2::text IS NULL OR organization_id = $2)
                  AND (cardinality($3::smallint[]) = 0 OR state = ANY($3::smallint[]))
                  AND level >= $4
                  AND ($5::timestamptz IS NULL OR (created_at, alert_id) < ($5, $6::uuid))
                ORDER BY created_at DESC, alert_id DESC
                LIMIT $7""",
            None if residents is None else sorted(residents),
            organization_id,
            list(states),
            min_level,
            None if after is None else _EPOCH + timedelta(microseconds=after[0]),
            None if after is None else after[1],
            limit,
        )
        return [(_record(r), _micros(r["created_at"])) for r in rows]

    async def max_seq(self) -> int:
        value = await self.pool.fetchval("SELECT coalesce(max(seq), 0) FROM crisis.events")
        return int(value)

    async def events_between(
        self, after: int, upto: int, feed_filter: FeedFilter, limit: int
    ) -> list[StoredEvent]:
        """Committed events with ``after < seq <= upto`` that pass the filter, in seq order.

        Safe to call with ``upto`` = a ``max(seq)`` read earlier: every seq up to it is
        committed (see the module docstring), so the range is complete.
        """
        rows = await self.pool.fetch(
            """SELECT seq, type, alert, actor, reason, occurred_at, organization_id,
                      resident_id, level
               FROM crisis.events
               WHERE seq > $1 AND seq <= $2
                 AND ($3::text[] IS NULL OR resident_id = ANY($3::text[]))
                 AND ($4::text IS NULL OR organization_id = $4)
                 AND level >= $5
               ORDER BY seq
               LIMIT $6""",
            after,
            upto,
            None if feed_filter.residents is None else sorted(feed_filter.residents),
            feed_filter.organization_id,
            feed_filter.min_level,
            limit,
        )
        return [_stored(r) for r in rows]


def _stored(r: Any) -> StoredEvent:
    return StoredEvent(
        seq=r["seq"],
        type=EventType(r["type"]),
        alert=bytes(r["alert"]),
        actor=r["actor"],
        reason=r["reason"],
        occurred_at=_epoch(r["occurred_at"]),
        organization_id=r["organization_id"],
        resident_id=r["resident_id"],
        level=r["level"],
    )


async def _lock_feed(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1)", FEED_LOCK)


async def _append_event(
    conn: asyncpg.Connection,
    alert: AlertRecord,
    type_: EventType,
    actor: str,
    reason: str,
    now: float,
) -> StoredEvent:
    """Append one event; the caller's transaction makes it visible at commit."""
    await _lock_feed(conn)  # re-entrant: a second take in the same transaction is free
    snapshot = alert_to_pb(alert).SerializeToString()
    row = await conn.fetchrow(
        """INSERT INTO crisis.events
               (seq, alert_id, organization_id, resident_id, level, type, actor, reason,
                alert, occurred_at)
           SELECT coalesce(max(seq), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9
           FROM crisis.events
           RETURNING seq, type, alert, actor, reason, occurred_at, organization_id,
                     resident_id, level""",
        alert.alert_id,
        alert.organization_id,
        alert.resident_id,
        int(alert.level),
        int(type_),
        actor,
        reason,
        snapshot,
        _dt(now),
    )
    return _stored(row)


async def _write_alert(conn: asyncpg.Connection, alert: AlertRecord) -> None:
    await conn.execute(
        """UPDATE crisis.alerts
           SET state = $2, tier = $3, acknowledged_by = $4, updated_at = $5,
               next_escalation_at = $6
           WHERE alert_id = $1""",
        alert.alert_id,
        int(alert.state),
        int(alert.tier),
        alert.acknowledged_by,
        _dt(alert.updated_at),
        None if alert.next_escalation_at is None else _dt(alert.next_escalation_at),
    )


async def _insert_deliveries(
    conn: asyncpg.Connection, alert_id: str, tier: Tier, notifiers: Sequence[str], now: float
) -> None:
    if not notifiers:
        return
    await conn.executemany(
        """INSERT INTO crisis.deliveries (alert_id, tier, notifier, next_attempt_at, created_at)
           VALUES ($1, $2, $3, $4, $4)
           ON CONFLICT (alert_id, tier, notifier) DO NOTHING""",
        [(alert_id, int(tier), name, _dt(now)) for name in notifiers],
    )
