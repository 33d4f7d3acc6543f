"""asyncpg adapter for the ``billing`` schema. SQL only; rules live in ``logic``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, fields

import asyncpg

from services.billing.logic import Cursor, UsageEvent, from_micros

_FIELDS = [f.name for f in fields(UsageEvent)]
_COLUMNS = ", ".join(_FIELDS)


def _event(r: asyncpg.Record) -> UsageEvent:
    values = {name: r[name] for name in _FIELDS}
    values["currency_code"] = values["currency_code"].strip()
    return UsageEvent(**values)


class BillingStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, event: UsageEvent) -> tuple[UsageEvent, bool]:
        """Store ``event`` unless (user_id, idempotency_key) exists; return the stored event
        and whether it was already there. One statement, so concurrent retries are safe."""
        placeholders = ", ".join(f"${i + 1}" for i in range(len(_FIELDS)))
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow(
                f"""INSERT INTO billing.usage_events ({_COLUMNS}) VALUES ({placeholders})
                    ON CONFLICT (user_id, idempotency_key) DO NOTHING RETURNING {_COLUMNS}""",
                *astuple(event),
            )
            if r is not None:
                return _event(r), False
            prior = await conn.fetchrow(
                f"""SELECT {_COLUMNS} FROM billing.usage_events
                    WHERE user_id = $1 AND idempotency_key = $2""",
                event.user_id,
                event.idempotency_key,
            )
        assert prior is not None  # rows are never deleted
        return _event(prior), True

    async def list_page(
        self,
        user_id: str,
        *,
        period: str | None,
        service_types: Sequence[int],
        after: Cursor | None,
        limit: int,
    ) -> list[UsageEvent]:
        records = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM billing.usage_events
                WHERE user_id = $1
                  AND ($2::text IS NULL OR billing_period = $2)
                  AND (cardinality($3::smallint[]) = 0 OR service_type = ANY($3))
                  AND ($4::timestamptz IS NULL OR (occurred_at, event_id) < ($4, $5))
                ORDER BY occurred_at DESC, event_id DESC
                LIMIT $6""",
            user_id,
            period,
            list(service_types),
            from_micros(after.occurred_at_us) if after else None,
            after.event_id if after else "",
            limit,
        )
        return [_event(r) for r in records]

    async def totals(self, user_id: str, period: str) -> list[asyncpg.Record]:
        """Rows (service_type, currency_code, event_count, quantity, cost_micros)."""
        records: list[asyncpg.Record] = await self._pool.fetch(
            """SELECT service_type, currency_code, count(*) AS event_count,
                      sum(quantity)::bigint AS quantity, sum(cost_micros)::bigint AS cost_micros
               FROM billing.usage_events WHERE user_id = $1 AND billing_period = $2
               GROUP BY service_type, currency_code ORDER BY service_type""",
            user_id,
            period,
        )
        return records
