"""``PgAccessFacts``: the live facts ``mesh.access.TokenAccessController`` needs, read
from the consent and emergency tables on every resident-scoped call.

Both lookups are single index probes (``consent.grants_active_lookup`` and
``emergency.accesses_live_lookup``, partial indexes on the live rows only). Nothing is
cached: a revocation applies to the next call. If the database cannot answer, the call
fails with UNAVAILABLE (never "no consent needed"); a database without the
consent/emergency schema answers "nothing granted".

Consent, asked on every consent-scoped call, is looked up by **group lookup** (as group
commit, for reads): one task keeps one pooled connection while lookups keep coming and
answers everything that queued while its previous query ran with one query (one index
probe per caller, ``LATERAL``). A caller always joins a query that has not started yet,
so the snapshot it is answered from is taken after the caller asked: a revocation
committed before a call began is seen by that call, exactly as with a query per call.
What it saves per call is the pool's acquire/release (whose reset is a second round
trip) and, under load, the round trip itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from mesh.background import Doorbell
from mesh.clock import Clock, SystemClock
from mesh.identity.principal import BreakGlassGrant
from mesh.status import Unavailable
from services.consent.logic import covered_resources

__all__ = ["PgAccessFacts"]

log = logging.getLogger(__name__)

#: How long the lookup task keeps its pooled connection when nobody is waiting (under
#: load the next lookup comes long before; a pool being closed waits at most this long).
HOLD_IDLE_CONNECTION = 0.05

#: Everything that queued while the previous query ran, in one statement: caller ``i``
#: asks about (resident, grantee) at its own ``now``; rows come back tagged with ``i``.
_CONSENT_BATCH = """
    SELECT k.i, g.data_category
    FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY
         AS k(resident_id, grantee_id, at, i)
    CROSS JOIN LATERAL (
        SELECT c.data_category FROM consent.grants c
        WHERE c.resident_id = k.resident_id AND c.grantee_id = k.grantee_id
          AND c.status = 'active' AND (c.expires_at IS NULL OR c.expires_at > k.at)
    ) g"""

_Ask = tuple[str, str, datetime, "asyncio.Future[frozenset[str]]"]


class PgAccessFacts:
    """``mesh.access.AccessFacts`` over PostgreSQL (schemas ``consent`` and ``emergency``
    in the database ``pool`` points at)."""

    def __init__(
        self, pool: asyncpg.Pool, clock: Clock | None = None, *, acquire_timeout: float = 2.0
    ) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()
        self._acquire_timeout = acquire_timeout
        self._waiting: list[_Ask] = []
        self._in_flight: list[_Ask] = []
        self._doorbell = Doorbell()
        self._task: asyncio.Task[None] | None = None

    async def consent_categories(self, resident_id: str, grantee_id: str) -> frozenset[str]:
        """Category names and the mesh resources they open (``CATEGORY_RESOURCES``),
        from a query that starts after this call (see the module docstring)."""
        now = datetime.fromtimestamp(self._clock.wall(), UTC)
        future: asyncio.Future[frozenset[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((resident_id, grantee_id, now, future))
        self._doorbell.ring()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._lookups(), name="consent-lookups")
        return await future

    async def _lookups(self) -> None:
        """Answer what is waiting, one query at a time, on one connection kept while
        lookups keep coming."""
        # Outer loop: lookups that queued while the connection was being released.
        while self._waiting:
            try:
                await self._lookups_on_one_connection()
            except Exception as exc:
                self._fail(exc)

    async def _lookups_on_one_connection(self) -> None:
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            while await self._more_within(HOLD_IDLE_CONNECTION):
                self._in_flight, self._waiting = self._waiting, []
                _answer(self._in_flight, await _consent_rows(conn, self._in_flight))
                self._in_flight = []

    def _fail(self, exc: Exception) -> None:
        """The query in flight and everything queued behind it fail: nobody may proceed
        as if "no consent" (or consent) were the answer."""
        failed, self._waiting, self._in_flight = self._in_flight + self._waiting, [], []
        if isinstance(exc, asyncpg.UndefinedTableError):
            # Schema not in this database: no consent is known, so none is granted.
            log.warning("consent.grants missing in this database: treating as no consent")
            _answer(failed, [])
            return
        error = Unavailable(f"consent lookup failed: {type(exc).__name__}")
        for *_, future in failed:
            if not future.done():
                future.set_exception(error)

    async def _more_within(self, seconds: float) -> bool:
        """True once a lookup is waiting (now, or within ``seconds``)."""
        if not self._waiting:
            await self._doorbell.wait(seconds)
        return bool(self._waiting)

    async def break_glass(
        self, resident_id: str, user_id: str, now: float
    ) -> list[BreakGlassGrant]:
        """Unrevoked accesses of ``user_id`` to ``resident_id`` still in force at ``now``
        (epoch seconds, the controller's clock: expiry needs no background job)."""
        try:
            rows = await self._pool.fetch(
                """SELECT access_id, expires_at FROM emergency.accesses
                   WHERE patient_id = $1 AND user_id = $2 AND revoked_at IS NULL
                     AND expires_at > $3""",
                resident_id,
                user_id,
                datetime.fromtimestamp(now, UTC),
            )
        except asyncpg.UndefinedTableError:
            log.warning("emergency.accesses missing in this database: no break-glass grants")
            return []
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"emergency access lookup failed: {type(exc).__name__}") from exc
        return [
            BreakGlassGrant(resident_id, r["expires_at"].timestamp(), r["access_id"]) for r in rows
        ]

    async def resident_organization(self, resident_id: str) -> str | None:
        """The resident's organisation from the auth service's users table.

        None (unknown: organisation-wide access is then denied) when the resident is not
        a user here or the auth schema is absent from this database.
        """
        try:
            org = await self._pool.fetchval(
                "SELECT organization_id FROM auth.users WHERE id = $1", resident_id
            )
        except asyncpg.UndefinedTableError:
            return None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"resident lookup failed: {type(exc).__name__}") from exc
        return str(org) if org is not None else None


async def _consent_rows(conn: asyncpg.Connection, batch: Sequence[_Ask]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _CONSENT_BATCH,
        [a[0] for a in batch],
        [a[1] for a in batch],
        [a[2] for a in batch],
    )
    return rows


def _answer(batch: Sequence[_Ask], rows: Sequence[asyncpg.Record]) -> None:
    categories: dict[int, list[str]] = {}
    for row in rows:
        categories.setdefault(row[0], []).append(row[1])
    for i, (*_, future) in enumerate(batch, start=1):
        if not future.done():
            future.set_result(covered_resources(categories.get(i, ())))
