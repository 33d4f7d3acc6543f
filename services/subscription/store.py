"""asyncpg adapter for the ``subscription`` schema. SQL only; rules live in ``logic``.

Writers pass a pure function: the store locks the row (``FOR UPDATE``), applies it and
writes the result in one transaction, so concurrent changes to one subscription serialise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, fields
from datetime import datetime

import asyncpg

from services.subscription.logic import (
    Interval,
    Outcome,
    Payment,
    Plan,
    State,
    Subscription,
)

_SUB_FIELDS = [f.name for f in fields(Subscription)]
_SUB_COLUMNS = ", ".join(_SUB_FIELDS)


class OpenSubscriptionExists(Exception):
    """The user already has a subscription that is not cancelled."""


class DuplicateIdempotencyKey(Exception):
    """A concurrent create with the same key won."""


def _plan(r: asyncpg.Record) -> Plan:
    return Plan(
        plan_id=r["plan_id"],
        name=r["name"],
        description=r["description"],
        price_micros=r["price_micros"],
        currency_code=r["currency_code"],
        interval=Interval(r["interval"]),
        trial_seconds=r["trial_seconds"],
        features=tuple(r["features"]),
        available=r["available"],
    )


def _sub(r: asyncpg.Record) -> Subscription:
    values = {name: r[name] for name in _SUB_FIELDS}
    values["state"] = State(values["state"])
    return Subscription(**values)


def _payment(r: asyncpg.Record) -> Payment:
    return Payment(
        payment_reference=r["payment_reference"],
        subscription_id=r["subscription_id"],
        outcome=Outcome(r["outcome"]),
        amount_micros=r["amount_micros"],
        currency_code=r["currency_code"],
        occurred_at=r["occurred_at"],
        failure_reason=r["failure_reason"],
    )


_UPDATE = (
    "UPDATE subscription.subscriptions SET "
    + ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(_SUB_FIELDS[1:]))
    + " WHERE subscription_id = $1"
)


class SubscriptionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def plans(self, include_unavailable: bool) -> list[Plan]:
        records = await self._pool.fetch(
            """SELECT * FROM subscription.plans WHERE $1 OR available
               ORDER BY price_micros, plan_id""",
            include_unavailable,
        )
        return [_plan(r) for r in records]

    async def plan(self, plan_id: str) -> Plan | None:
        r = await self._pool.fetchrow(
            "SELECT * FROM subscription.plans WHERE plan_id = $1", plan_id
        )
        return _plan(r) if r is not None else None

    async def get(self, subscription_id: str) -> Subscription | None:
        r = await self._pool.fetchrow(
            f"SELECT {_SUB_COLUMNS} FROM subscription.subscriptions WHERE subscription_id = $1",
            subscription_id,
        )
        return _sub(r) if r is not None else None

    async def newest_for_user(self, user_id: str) -> Subscription | None:
        r = await self._pool.fetchrow(
            f"""SELECT {_SUB_COLUMNS} FROM subscription.subscriptions WHERE user_id = $1
                ORDER BY created_at DESC, subscription_id DESC LIMIT 1""",
            user_id,
        )
        return _sub(r) if r is not None else None

    async def open_for_user(self, user_id: str) -> Subscription | None:
        r = await self._pool.fetchrow(
            f"""SELECT {_SUB_COLUMNS} FROM subscription.subscriptions
                WHERE user_id = $1 AND state <> 4""",
            user_id,
        )
        return _sub(r) if r is not None else None

    async def had_trial(self, user_id: str) -> bool:
        return bool(
            await self._pool.fetchval(
                """SELECT EXISTS (SELECT 1 FROM subscription.subscriptions
                   WHERE user_id = $1 AND trial_ends_at IS NOT NULL)""",
                user_id,
            )
        )

    async def by_idempotency_key(self, user_id: str, key: str) -> tuple[Subscription, bool] | None:
        """The subscription a key created and the start_trial it was asked with."""
        r = await self._pool.fetchrow(
            f"""SELECT {_SUB_COLUMNS}, start_trial FROM subscription.subscriptions
                WHERE user_id = $1 AND idempotency_key = $2""",
            user_id,
            key,
        )
        return (_sub(r), bool(r["start_trial"])) if r is not None else None

    async def insert(self, sub: Subscription, key: str, start_trial: bool) -> None:
        placeholders = ", ".join(f"${i + 1}" for i in range(len(_SUB_FIELDS) + 2))
        values = list(astuple(sub))
        values[_SUB_FIELDS.index("state")] = int(sub.state)
        try:
            await self._pool.execute(
                f"""INSERT INTO subscription.subscriptions
                    ({_SUB_COLUMNS}, idempotency_key, start_trial) VALUES ({placeholders})""",
                *values,
                key,
                start_trial,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "subscriptions_one_open":
                raise OpenSubscriptionExists() from None
            if exc.constraint_name == "subscriptions_idempotency":
                raise DuplicateIdempotencyKey() from None
            raise

    async def mutate(
        self,
        subscription_id: str,
        change: Callable[[Subscription], Subscription],
        *,
        cancel_reason: str | None = None,
    ) -> Subscription | None:
        """Apply ``change`` to the locked row and store the result; None if there is no row.
        Exceptions from ``change`` roll back and propagate."""
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                f"""SELECT {_SUB_COLUMNS} FROM subscription.subscriptions
                    WHERE subscription_id = $1 FOR UPDATE""",
                subscription_id,
            )
            if r is None:
                return None
            old = _sub(r)
            new = change(old)
            if new != old:
                await self._write(conn, new)
                if (cancel_reason and new.state is State.CANCELLED) or (
                    cancel_reason and new.cancel_at_period_end and not old.cancel_at_period_end
                ):
                    await conn.execute(
                        """UPDATE subscription.subscriptions SET cancel_reason = $2
                           WHERE subscription_id = $1""",
                        subscription_id,
                        cancel_reason,
                    )
            return new

    async def record_payment(
        self,
        payment: Payment,
        recorded_at: datetime,
        change: Callable[[Subscription, Payment | None], Subscription],
    ) -> tuple[Subscription, Payment | None] | None:
        """Insert the payment unless its reference exists, and apply ``change`` to the locked
        subscription. ``change`` gets the previously stored payment when the reference was
        seen before (then nothing is written). None when the subscription does not exist."""
        async with self._pool.acquire() as conn, conn.transaction():
            r = await conn.fetchrow(
                f"""SELECT {_SUB_COLUMNS} FROM subscription.subscriptions
                    WHERE subscription_id = $1 FOR UPDATE""",
                payment.subscription_id,
            )
            if r is None:
                return None
            old = _sub(r)
            inserted = await conn.fetchval(
                """INSERT INTO subscription.payments
                   (payment_reference, subscription_id, outcome, amount_micros, currency_code,
                    occurred_at, failure_reason, recorded_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (payment_reference) DO NOTHING RETURNING true""",
                payment.payment_reference,
                payment.subscription_id,
                int(payment.outcome),
                payment.amount_micros,
                payment.currency_code,
                payment.occurred_at,
                payment.failure_reason,
                recorded_at,
            )
            if not inserted:
                prior_row = await conn.fetchrow(
                    "SELECT * FROM subscription.payments WHERE payment_reference = $1",
                    payment.payment_reference,
                )
                assert prior_row is not None
                prior = _payment(prior_row)
                return change(old, prior), prior
            new = change(old, None)
            if new != old:
                await self._write(conn, new)
            return new, None

    @staticmethod
    async def _write(conn: asyncpg.Connection, sub: Subscription) -> None:
        values = list(astuple(sub))
        values[_SUB_FIELDS.index("state")] = int(sub.state)
        await conn.execute(_UPDATE, *values)
