"""Pure crisis logic: state machine, escalation policy, backoff, config, cursors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from mesh.status import InvalidArgument
from services.crisis import CrisisConfigError, InvalidTransition
from services.crisis.config import config_from_env, parse_level
from services.crisis.convert import decode_page_token, encode_page_token, parse_cursor
from services.crisis.logic import (
    TRANSITIONS,
    Action,
    AlertRecord,
    AlertState,
    Change,
    EscalationPolicy,
    EventType,
    Level,
    Tier,
    acknowledge,
    auto_escalate,
    escalate,
    new_alert,
    resolve,
    retry_delay,
)

POLICY = EscalationPolicy()
T0 = 1_000_000.0


def make(level: Level = Level.CRITICAL, now: float = T0) -> AlertRecord:
    return new_alert(
        alert_id="a1",
        organization_id="org-1",
        resident_id="res-1",
        source="chat",
        level=level,
        categories=(1, 1, 6),
        excerpt="x",
        trace_id="",
        now=now,
        policy=POLICY,
    ).alert


def test_new_alert_starts_open_at_care_staff_with_level_deadline() -> None:
    change = new_alert(
        alert_id="a1",
        organization_id="o",
        resident_id="r",
        source="s",
        level=Level.CRITICAL,
        categories=(6, 1, 1),
        excerpt="",
        trace_id="",
        now=T0,
        policy=POLICY,
    )
    assert change.event is EventType.CREATED
    assert change.notify_tier is Tier.CARE_STAFF
    assert change.alert.state is AlertState.OPEN and change.alert.tier is Tier.CARE_STAFF
    assert change.alert.categories == (1, 6)
    assert change.alert.next_escalation_at == T0 + 60
    assert make(Level.HIGH).next_escalation_at == T0 + 300
    assert make(Level.MEDIUM).next_escalation_at is None
    assert make(Level.LOW).next_escalation_at is None


def test_new_alert_refuses_level_none() -> None:
    with pytest.raises(ValueError, match="LOW or higher"):
        make(Level.NONE)


def test_critical_ladder_climbs_to_emergency_services_then_stops() -> None:
    alert = make()
    seen = []
    now = T0
    for expected_tier, wait in [
        (Tier.HEALTH_PROVIDER, 60),
        (Tier.EMERGENCY_CONTACT, 120),
        (Tier.EMERGENCY_SERVICES, 120),
    ]:
        early = auto_escalate(alert, now + wait - 1, POLICY)
        assert early.event is None and early.alert == alert
        now += wait
        change = auto_escalate(alert, now, POLICY)
        assert change.event is EventType.ESCALATED
        assert change.alert.tier is expected_tier and change.notify_tier is expected_tier
        assert change.alert.state is AlertState.ESCALATED
        alert = change.alert
        seen.append(alert.tier)
    assert alert.next_escalation_at is None
    assert seen == [Tier.HEALTH_PROVIDER, Tier.EMERGENCY_CONTACT, Tier.EMERGENCY_SERVICES]


def test_auto_escalation_after_an_outage_catches_up_one_tier_per_step() -> None:
    alert = make()
    late = T0 + 10_000  # every worker was down for hours
    first = auto_escalate(alert, late, POLICY)
    # The next deadline counts from the deadline that fired, so it is already due too.
    assert first.alert.next_escalation_at == T0 + 60 + 120
    second = auto_escalate(first.alert, late, POLICY)
    assert second.alert.tier is Tier.EMERGENCY_CONTACT


def test_high_escalates_once_and_lower_levels_never() -> None:
    high = auto_escalate(make(Level.HIGH), T0 + 300, POLICY)
    assert high.alert.tier is Tier.HEALTH_PROVIDER and high.alert.next_escalation_at is None
    for level in (Level.LOW, Level.MEDIUM):
        assert auto_escalate(make(level), T0 + 1e6, POLICY).event is None


def test_acknowledged_or_resolved_alerts_do_not_auto_escalate() -> None:
    acked = acknowledge(make(), "u1", "", T0 + 1).alert
    assert acked.next_escalation_at is None
    # Even if a stale deadline were handed over, the state forbids escalation.
    stale = dataclasses.replace(acked, next_escalation_at=T0 + 60)
    assert auto_escalate(stale, T0 + 100, POLICY).event is None
    done = dataclasses.replace(resolve(make(), "ok", T0).alert, next_escalation_at=T0 + 60)
    assert auto_escalate(done, T0 + 100, POLICY).event is None


def test_acknowledge_is_idempotent_for_the_same_actor_and_refused_for_another() -> None:
    acked = acknowledge(make(), "u1", "on my way", T0).alert
    again = acknowledge(acked, "u1", "", T0 + 5)
    assert again.event is None and again.alert == acked
    with pytest.raises(InvalidTransition, match="acknowledged by u1"):
        acknowledge(acked, "u2", "", T0 + 5)


def test_every_pair_outside_the_table_is_refused_with_the_state_named() -> None:
    alerts = {
        AlertState.OPEN: make(),
        AlertState.ACKNOWLEDGED: acknowledge(make(), "u1", "", T0).alert,
        AlertState.ESCALATED: escalate(make(), "", T0, POLICY).alert,
        AlertState.RESOLVED: resolve(make(), "fine", T0).alert,
    }
    apply: dict[Action, Callable[[AlertRecord], Change]] = {
        Action.ACKNOWLEDGE: lambda a: acknowledge(a, "u2", "", T0),
        Action.ESCALATE: lambda a: escalate(a, "", T0, POLICY),
        Action.RESOLVE: lambda a: resolve(a, "done", T0),
    }
    for state, alert in alerts.items():
        for action, fn in apply.items():
            target = TRANSITIONS.get((state, action))
            if target is None:
                with pytest.raises(InvalidTransition, match=state.name):
                    fn(alert)
            else:
                assert fn(alert).alert.state is target


def test_manual_escalation_takes_the_next_tier_even_for_low_and_stops_at_the_top() -> None:
    low = escalate(make(Level.LOW), "staff worried", T0, POLICY)
    assert low.alert.tier is Tier.HEALTH_PROVIDER and low.reason == "staff worried"
    assert low.alert.next_escalation_at is None
    crit = escalate(make(), "", T0 + 10, POLICY).alert
    assert crit.tier is Tier.HEALTH_PROVIDER
    assert crit.next_escalation_at == T0 + 10 + 120  # ladder resumes from the new tier
    top = escalate(escalate(crit, "", T0, POLICY).alert, "", T0, POLICY).alert
    assert top.tier is Tier.EMERGENCY_SERVICES
    with pytest.raises(InvalidTransition, match="EMERGENCY_SERVICES"):
        escalate(top, "", T0, POLICY)


def test_escalating_an_acknowledged_alert_restarts_the_ladder() -> None:
    acked = acknowledge(make(), "u1", "", T0).alert
    change = escalate(acked, "need the GP", T0 + 30, POLICY)
    assert change.alert.state is AlertState.ESCALATED
    assert change.alert.next_escalation_at == T0 + 30 + 120


def test_policy_rejects_ladders_that_do_not_climb() -> None:
    with pytest.raises(ValueError, match="climb"):
        EscalationPolicy({Level.HIGH: ((Tier.CARE_STAFF, 10.0),)})
    with pytest.raises(ValueError, match="> 0"):
        EscalationPolicy({Level.HIGH: ((Tier.HEALTH_PROVIDER, 0.0),)})


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert retry_delay(10_000, 1.0, 300.0) == 300
    with pytest.raises(ValueError):
        retry_delay(0, 1.0, 10.0)


def test_config_from_env() -> None:
    cfg = config_from_env(
        {
            "LILO_CRISIS_ALERT_LEVEL": "critical",
            "LILO_CRISIS_ESCALATION_CRITICAL": "5,6,7",
            "LILO_CRISIS_ESCALATION_HIGH": "9",
        }
    )
    assert cfg.alert_level is Level.CRITICAL
    assert cfg.policy.ladders[Level.CRITICAL] == (
        (Tier.HEALTH_PROVIDER, 5.0),
        (Tier.EMERGENCY_CONTACT, 6.0),
        (Tier.EMERGENCY_SERVICES, 7.0),
    )
    assert cfg.policy.ladders[Level.HIGH] == ((Tier.HEALTH_PROVIDER, 9.0),)
    assert config_from_env({}).alert_level is Level.HIGH
    assert parse_level("3") is Level.MEDIUM
    assert parse_level("CRISIS_LEVEL_HIGH") is Level.HIGH
    for bad in ("NONE", "1", "urgent"):
        with pytest.raises(CrisisConfigError):
            parse_level(bad)
    with pytest.raises(CrisisConfigError):
        config_from_env({"LILO_CRISIS_ESCALATION_CRITICAL": "60,-1"})


def test_cursor_and_page_token_parsing() -> None:
    assert parse_cursor("0") == 0 and parse_cursor("42") == 42
    for bad in ("", "-1", "abc", "1.5", " 1", "٣", "9" * 20):
        with pytest.raises(InvalidArgument, match="resume_cursor"):
            parse_cursor(bad)
    token = encode_page_token(123456, "7b1b5b8e-7c1e-4a39-9a52-1f0e8f3f6d10")
    assert decode_page_token(token) == (123456, "7b1b5b8e-7c1e-4a39-9a52-1f0e8f3f6d10")
    for bad in ("nope", token[:-3], "!!!"):
        with pytest.raises(InvalidArgument, match="page_token"):
            decode_page_token(bad)
