"""``PgAccessFacts``: the live facts ``mesh.access.TokenAccessController`` needs, read
from the consent and emergency tables on every resident-scoped call.

Both lookups are single index probes (``consent.grants_active_lookup`` and
``emergency.accesses_live_lookup``, partial indexes on the live rows only), so the cost
per call is two short queries. Nothing is cached: a revocation applies to the next call.
If the database cannot answer, the call fails with UNAVAILABLE (never "no consent
needed"); a database without the consent/emergency schema answers "nothing granted".
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg

from mesh.clock import Clock, SystemClock
from mesh.identity.principal import BreakGlassGrant
from mesh.status import Unavailable
from services.consent.logic import covered_resources

__all__ = ["PgAccessFacts"]

log = logging.getLogger(__name__)


class PgAccessFacts:
    """``mesh.access.AccessFacts`` over PostgreSQL (schemas ``consent`` and ``emergency``
    in the database ``pool`` points at)."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock | None = None) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()

    async def consent_categories(self, resident_id: str, grantee_id: str) -> frozenset[str]:
        """Category names and the mesh resources they open (``CATEGORY_RESOURCES``)."""
        now = datetime.fromtimestamp(self._clock.wall(), UTC)
        try:
            rows = await self._pool.fetch(
                """SELECT data_category FROM consent.grants
                   WHERE resident_id = $1 AND grantee_id = $2 AND status = 'active'
                     AND (expires_at IS NULL OR expires_at > $3)""",
                resident_id,
                grantee_id,
                now,
            )
        except asyncpg.UndefinedTableError:
            # Schema not in this database: no consent is known, so none is granted.
            log.warning("consent.grants missing in this database: treating as no consent")
            return frozenset()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"consent lookup failed: {type(exc).__name__}") from exc
        return covered_resources(r["data_category"] for r in rows)

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
