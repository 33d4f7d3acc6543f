"""The subscription life cycle as a pure state machine, and the rules around it. No I/O.

Transition table (state, event) -> state; anything not listed is refused
(FAILED_PRECONDITION), so CANCELLED is terminal::

    TRIAL     --payment_succeeded--> ACTIVE     (new period from the payment)
    TRIAL     --payment_failed-----> PAST_DUE
    TRIAL     --trial_ended--------> PAST_DUE   (trial over and no payment recorded)
    ACTIVE    --payment_succeeded--> ACTIVE     (renews when paid at/after period end)
    ACTIVE    --payment_failed-----> PAST_DUE
    PAST_DUE  --payment_succeeded--> ACTIVE     (new period from the payment)
    PAST_DUE  --payment_failed-----> PAST_DUE   (past_due_since kept)
    TRIAL | ACTIVE | PAST_DUE --cancel--> CANCELLED
    TRIAL | ACTIVE | PAST_DUE --period_ended_with_cancel--> CANCELLED (at period end)

Time-driven events (trial end, scheduled cancellation) are applied by ``settle(sub, now)``,
which readers apply to what they load and writers apply before their own event, so no
background job is needed for the answer to be right.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from mesh.status import AlreadyExists, FailedPrecondition, InvalidArgument

MAX_ID_LENGTH = 128
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class State(IntEnum):
    """Numbers match lilo.subscription.v1.SubscriptionState."""

    TRIAL = 1
    ACTIVE = 2
    PAST_DUE = 3
    CANCELLED = 4


class Interval(IntEnum):
    MONTHLY = 1
    YEARLY = 2


class Outcome(IntEnum):
    SUCCEEDED = 1
    FAILED = 2


class Event(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDED = "trial_ended"
    CANCEL = "cancel"
    PERIOD_ENDED_WITH_CANCEL = "period_ended_with_cancel"


_OPEN = (State.TRIAL, State.ACTIVE, State.PAST_DUE)

TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.TRIAL, Event.PAYMENT_SUCCEEDED): State.ACTIVE,
    (State.TRIAL, Event.PAYMENT_FAILED): State.PAST_DUE,
    (State.TRIAL, Event.TRIAL_ENDED): State.PAST_DUE,
    (State.ACTIVE, Event.PAYMENT_SUCCEEDED): State.ACTIVE,
    (State.ACTIVE, Event.PAYMENT_FAILED): State.PAST_DUE,
    (State.PAST_DUE, Event.PAYMENT_SUCCEEDED): State.ACTIVE,
    (State.PAST_DUE, Event.PAYMENT_FAILED): State.PAST_DUE,
    **{(s, Event.CANCEL): State.CANCELLED for s in _OPEN},
    **{(s, Event.PERIOD_ENDED_WITH_CANCEL): State.CANCELLED for s in _OPEN},
}


def transition(state: State, event: Event) -> State:
    """The next state, or FAILED_PRECONDITION when the table has no such edge."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise FailedPrecondition(f"a {state.name} subscription cannot take {event.value}") from None


@dataclass(frozen=True)
class Plan:
    plan_id: str
    name: str
    description: str
    price_micros: int
    currency_code: str
    interval: Interval
    trial_seconds: int
    features: tuple[str, ...]
    available: bool


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    user_id: str
    plan_id: str
    state: State
    trial_ends_at: datetime | None
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    past_due_since: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Payment:
    payment_reference: str
    subscription_id: str
    outcome: Outcome
    amount_micros: int
    currency_code: str
    occurred_at: datetime
    failure_reason: str


def add_interval(start: datetime, interval: Interval) -> datetime:
    """One calendar month or year later; the day is clamped (Jan 31 + 1 month = Feb 28/29)."""
    months = 1 if interval is Interval.MONTHLY else 12
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def require(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{field} must be at most {MAX_ID_LENGTH} printable characters")
    return value


def new_subscription(
    *,
    subscription_id: str,
    user_id: str,
    plan: Plan,
    start_trial: bool,
    had_trial: bool,
    now: datetime,
) -> Subscription:
    """A new subscription in TRIAL (trial period) or ACTIVE (one paid period from ``now``)."""
    if not plan.available:
        raise FailedPrecondition(f"plan {plan.plan_id} is not available to new subscribers")
    trial_ends_at = None
    if start_trial:
        if plan.trial_seconds <= 0:
            raise FailedPrecondition(f"plan {plan.plan_id} has no trial")
        if had_trial:
            raise FailedPrecondition(f"user {user_id} already had a trial")
        trial_ends_at = now + timedelta(seconds=plan.trial_seconds)
    return Subscription(
        subscription_id=subscription_id,
        user_id=user_id,
        plan_id=plan.plan_id,
        state=State.TRIAL if start_trial else State.ACTIVE,
        trial_ends_at=trial_ends_at,
        current_period_start=now,
        current_period_end=trial_ends_at or add_interval(now, plan.interval),
        cancel_at_period_end=False,
        past_due_since=None,
        cancelled_at=None,
        created_at=now,
        updated_at=now,
    )


def settle(sub: Subscription, now: datetime) -> Subscription:
    """Apply the time-driven events that are due at ``now`` (pure; may return ``sub``)."""
    if sub.state is State.CANCELLED:
        return sub
    if sub.cancel_at_period_end and now >= sub.current_period_end:
        transition(sub.state, Event.PERIOD_ENDED_WITH_CANCEL)
        at = sub.current_period_end
        return replace(
            sub, state=State.CANCELLED, cancelled_at=at, past_due_since=None, updated_at=at
        )
    if sub.state is State.TRIAL and sub.trial_ends_at is not None and now >= sub.trial_ends_at:
        transition(sub.state, Event.TRIAL_ENDED)
        at = sub.trial_ends_at
        return replace(sub, state=State.PAST_DUE, past_due_since=at, updated_at=at)
    return sub


def cancel(sub: Subscription, *, at_period_end: bool, now: datetime) -> Subscription:
    """Cancel now, or flag for cancellation at period end. Cancelling a cancelled
    subscription (or flagging a flagged one) changes nothing."""
    sub = settle(sub, now)
    if sub.state is State.CANCELLED:
        return sub
    if at_period_end:
        if sub.cancel_at_period_end:
            return sub
        return replace(sub, cancel_at_period_end=True, updated_at=now)
    transition(sub.state, Event.CANCEL)
    return replace(
        sub,
        state=State.CANCELLED,
        cancelled_at=now,
        past_due_since=None,
        cancel_at_period_end=False,
        updated_at=now,
    )


def change_plan(sub: Subscription, plan: Plan, now: datetime) -> Subscription:
    """Switch plans at once, keeping the period dates; the current plan changes nothing."""
    sub = settle(sub, now)
    if sub.state is State.CANCELLED:
        raise FailedPrecondition(f"subscription {sub.subscription_id} is cancelled")
    if plan.plan_id == sub.plan_id:
        return sub
    if not plan.available:
        raise FailedPrecondition(f"plan {plan.plan_id} is not available")
    return replace(sub, plan_id=plan.plan_id, updated_at=now)


def apply_payment(sub: Subscription, payment: Payment, plan: Plan, now: datetime) -> Subscription:
    """The subscription after ``payment`` (see the transition table for the dates)."""
    sub = settle(sub, now)
    paid = payment.outcome is Outcome.SUCCEEDED
    event = Event.PAYMENT_SUCCEEDED if paid else Event.PAYMENT_FAILED
    target = transition(sub.state, event)
    at = payment.occurred_at
    if not paid:
        return replace(
            sub,
            state=target,
            past_due_since=sub.past_due_since if sub.state is State.PAST_DUE else at,
            updated_at=now,
        )
    if sub.state is State.ACTIVE:
        if at < sub.current_period_end:
            return replace(sub, updated_at=now)  # pays the period already running
        start = sub.current_period_end
    else:
        start = at
    return replace(
        sub,
        state=target,
        current_period_start=start,
        current_period_end=add_interval(start, plan.interval),
        past_due_since=None,
        updated_at=now,
    )


def validate_payment(
    *,
    subscription_id: str,
    payment_reference: str,
    outcome: int,
    amount_micros: int,
    currency_code: str,
) -> None:
    require("subscription_id", subscription_id)
    require("payment_reference", payment_reference)
    if outcome not in (Outcome.SUCCEEDED, Outcome.FAILED):
        raise InvalidArgument("outcome must be SUCCEEDED or FAILED")
    if amount_micros < 0:
        raise InvalidArgument("amount_micros must not be negative")
    if not _CURRENCY.match(currency_code):
        raise InvalidArgument("currency_code must be an ISO 4217 code such as USD")


def same_payment(stored: Payment, incoming: Payment) -> None:
    """A repeated reference must describe the same attempt; else ALREADY_EXISTS."""
    if (
        stored.subscription_id,
        stored.outcome,
        stored.amount_micros,
        stored.currency_code,
    ) != (
        incoming.subscription_id,
        incoming.outcome,
        incoming.amount_micros,
        incoming.currency_code,
    ):
        raise AlreadyExists(
            f"payment_reference {incoming.payment_reference} was recorded with different details"
        )


def cache_keys(sub: Subscription) -> tuple[str, str]:
    return (f"id|{sub.subscription_id}", f"user|{sub.user_id}")
