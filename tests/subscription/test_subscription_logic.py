from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mesh.status import AlreadyExists, FailedPrecondition, InvalidArgument
from services.subscription import logic
from services.subscription.logic import Event, Interval, Outcome, State

T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
PLAN = logic.Plan("basic", "Basic", "", 9_990_000, "USD", Interval.MONTHLY, 14 * 86400, (), True)


def sub(**kw: object) -> logic.Subscription:
    base = logic.new_subscription(
        subscription_id="s1", user_id="u1", plan=PLAN, start_trial=False, had_trial=False, now=T0
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def pay(outcome: Outcome, at: datetime, ref: str = "p1") -> logic.Payment:
    return logic.Payment(ref, "s1", outcome, 9_990_000, "USD", at, "")


def test_transition_table_is_complete_and_cancelled_is_terminal() -> None:
    for event in Event:
        with pytest.raises(FailedPrecondition):
            logic.transition(State.CANCELLED, event)
    assert logic.transition(State.ACTIVE, Event.PAYMENT_FAILED) is State.PAST_DUE
    assert logic.transition(State.PAST_DUE, Event.PAYMENT_SUCCEEDED) is State.ACTIVE
    assert logic.transition(State.PAST_DUE, Event.PAYMENT_FAILED) is State.PAST_DUE
    with pytest.raises(FailedPrecondition):
        logic.transition(State.ACTIVE, Event.TRIAL_ENDED)


def test_add_interval_clamps_the_day() -> None:
    assert logic.add_interval(T0, Interval.MONTHLY) == datetime(2025, 2, 28, 12, tzinfo=UTC)
    leap = datetime(2024, 2, 29, tzinfo=UTC)
    assert logic.add_interval(leap, Interval.YEARLY) == datetime(2025, 2, 28, tzinfo=UTC)
    assert logic.add_interval(datetime(2025, 12, 15, tzinfo=UTC), Interval.MONTHLY) == datetime(
        2026, 1, 15, tzinfo=UTC
    )


def test_new_subscription_rules() -> None:
    trial = logic.new_subscription(
        subscription_id="s", user_id="u", plan=PLAN, start_trial=True, had_trial=False, now=T0
    )
    assert trial.state is State.TRIAL
    assert trial.trial_ends_at == trial.current_period_end == T0 + timedelta(days=14)
    with pytest.raises(FailedPrecondition, match="already had a trial"):
        logic.new_subscription(
            subscription_id="s", user_id="u", plan=PLAN, start_trial=True, had_trial=True, now=T0
        )
    with pytest.raises(FailedPrecondition, match="no trial"):
        logic.new_subscription(
            subscription_id="s",
            user_id="u",
            plan=replace(PLAN, trial_seconds=0),
            start_trial=True,
            had_trial=False,
            now=T0,
        )
    with pytest.raises(FailedPrecondition, match="not available"):
        logic.new_subscription(
            subscription_id="s",
            user_id="u",
            plan=replace(PLAN, available=False),
            start_trial=False,
            had_trial=False,
            now=T0,
        )


def test_payments_move_between_active_and_past_due() -> None:
    active = sub()
    failed_at = active.current_period_end
    past_due = logic.apply_payment(active, pay(Outcome.FAILED, failed_at), PLAN, failed_at)
    assert past_due.state is State.PAST_DUE and past_due.past_due_since == failed_at
    later = failed_at + timedelta(days=2)
    still = logic.apply_payment(past_due, pay(Outcome.FAILED, later, "p2"), PLAN, later)
    assert still.past_due_since == failed_at  # first failure kept
    paid = logic.apply_payment(still, pay(Outcome.SUCCEEDED, later, "p3"), PLAN, later)
    assert paid.state is State.ACTIVE and paid.past_due_since is None
    assert paid.current_period_start == later
    assert paid.current_period_end == logic.add_interval(later, Interval.MONTHLY)


def test_active_payment_renews_only_at_period_end() -> None:
    active = sub()
    early = logic.apply_payment(active, pay(Outcome.SUCCEEDED, T0), PLAN, T0)
    assert early.current_period_end == active.current_period_end
    renewal = logic.apply_payment(
        active, pay(Outcome.SUCCEEDED, active.current_period_end), PLAN, active.current_period_end
    )
    assert renewal.current_period_start == active.current_period_end
    assert renewal.current_period_end == logic.add_interval(
        active.current_period_end, Interval.MONTHLY
    )


def test_settle_applies_scheduled_cancellation_and_trial_end() -> None:
    flagged = logic.cancel(sub(), at_period_end=True, now=T0)
    assert flagged.state is State.ACTIVE and flagged.cancel_at_period_end
    assert logic.settle(flagged, flagged.current_period_end - timedelta(seconds=1)) == flagged
    done = logic.settle(flagged, flagged.current_period_end)
    assert done.state is State.CANCELLED and done.cancelled_at == flagged.current_period_end
    trial = logic.new_subscription(
        subscription_id="s", user_id="u", plan=PLAN, start_trial=True, had_trial=False, now=T0
    )
    assert trial.trial_ends_at is not None
    ended = logic.settle(trial, trial.trial_ends_at + timedelta(hours=1))
    assert ended.state is State.PAST_DUE and ended.past_due_since == trial.trial_ends_at


def test_cancel_is_idempotent_and_payment_after_cancel_refused() -> None:
    cancelled = logic.cancel(sub(), at_period_end=False, now=T0)
    assert cancelled.state is State.CANCELLED and cancelled.cancelled_at == T0
    assert logic.cancel(cancelled, at_period_end=False, now=T0 + timedelta(days=1)) == cancelled
    with pytest.raises(FailedPrecondition):
        logic.apply_payment(cancelled, pay(Outcome.SUCCEEDED, T0), PLAN, T0)
    with pytest.raises(FailedPrecondition):
        logic.change_plan(cancelled, PLAN, T0)


def test_payment_validation_and_dedupe() -> None:
    with pytest.raises(InvalidArgument, match="payment_reference"):
        logic.validate_payment(
            subscription_id="s",
            payment_reference="",
            outcome=1,
            amount_micros=1,
            currency_code="USD",
        )
    with pytest.raises(InvalidArgument, match="outcome"):
        logic.validate_payment(
            subscription_id="s",
            payment_reference="p",
            outcome=0,
            amount_micros=1,
            currency_code="USD",
        )
    with pytest.raises(InvalidArgument, match="currency_code"):
        logic.validate_payment(
            subscription_id="s",
            payment_reference="p",
            outcome=1,
            amount_micros=1,
            currency_code="usd",
        )
    first = pay(Outcome.SUCCEEDED, T0)
    logic.same_payment(first, replace(first, occurred_at=T0 + timedelta(seconds=5)))
    with pytest.raises(AlreadyExists):
        logic.same_payment(first, replace(first, outcome=Outcome.FAILED))
