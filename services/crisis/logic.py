"""Pure crisis logic: the alert state machine, the escalation policy, retry backoff.

No I/O, no clock: every function takes ``now`` (epoch seconds) from its caller. The store
applies what these functions decide inside one transaction, so a decision and its event
are never separated.

State machine (``TRANSITIONS``; anything else is ``InvalidTransition``)::

    OPEN         --acknowledge--> ACKNOWLEDGED   (stops automatic escalation)
    OPEN         --escalate-----> ESCALATED      (by hand or by policy)
    OPEN         --resolve------> RESOLVED
    ESCALATED    --acknowledge--> ACKNOWLEDGED
    ESCALATED    --escalate-----> ESCALATED      (next tier)
    ESCALATED    --resolve------> RESOLVED
    ACKNOWLEDGED --escalate-----> ESCALATED      (by hand only: the handler asks for help;
                                                   the policy ladder resumes at the new tier)
    ACKNOWLEDGED --resolve------> RESOLVED
    RESOLVED     is final.

Acknowledging an alert already acknowledged by the same actor is a no-op (a retried call
must not fail); by someone else it is refused, naming who holds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from services.crisis import InvalidTransition

__all__ = [
    "TRANSITIONS",
    "Action",
    "AlertRecord",
    "AlertState",
    "Change",
    "EscalationPolicy",
    "EventType",
    "Level",
    "Tier",
    "acknowledge",
    "auto_escalate",
    "escalate",
    "new_alert",
    "resolve",
    "retry_delay",
]


class Level(IntEnum):
    """Mirrors ``lilo.safety.v1.CrisisLevel``."""

    NONE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


class AlertState(IntEnum):
    """Mirrors ``lilo.crisis.v1.AlertState``."""

    OPEN = 1
    ACKNOWLEDGED = 2
    ESCALATED = 3
    RESOLVED = 4


class Tier(IntEnum):
    """Mirrors ``lilo.crisis.v1.EscalationTier``, in escalation order."""

    CARE_STAFF = 1
    HEALTH_PROVIDER = 2
    EMERGENCY_CONTACT = 3
    EMERGENCY_SERVICES = 4


class EventType(IntEnum):
    """Mirrors ``lilo.crisis.v1.AlertEventType``."""

    CREATED = 1
    ACKNOWLEDGED = 2
    ESCALATED = 3
    RESOLVED = 4
    NOTIFIED = 5


class Action(Enum):
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


TRANSITIONS: Mapping[tuple[AlertState, Action], AlertState] = {
    (AlertState.OPEN, Action.ACKNOWLEDGE): AlertState.ACKNOWLEDGED,
    (AlertState.OPEN, Action.ESCALATE): AlertState.ESCALATED,
    (AlertState.OPEN, Action.RESOLVE): AlertState.RESOLVED,
    (AlertState.ESCALATED, Action.ACKNOWLEDGE): AlertState.ACKNOWLEDGED,
    (AlertState.ESCALATED, Action.ESCALATE): AlertState.ESCALATED,
    (AlertState.ESCALATED, Action.RESOLVE): AlertState.RESOLVED,
    (AlertState.ACKNOWLEDGED, Action.ESCALATE): AlertState.ESCALATED,
    (AlertState.ACKNOWLEDGED, Action.RESOLVE): AlertState.RESOLVED,
}


@dataclass(frozen=True, kw_only=True)
class AlertRecord:
    """One alert as stored. Times are epoch seconds; ``excerpt`` is already PHI-masked."""

    alert_id: str
    organization_id: str
    resident_id: str
    source: str
    level: Level
    categories: tuple[int, ...]
    excerpt: str
    trace_id: str
    state: AlertState
    tier: Tier
    acknowledged_by: str
    created_at: float
    updated_at: float
    next_escalation_at: float | None


@dataclass(frozen=True, kw_only=True)
class Change:
    """What a transition decided: the alert after it and the event that records it.

    ``notify_tier`` is set when the alert reached a tier whose notifiers must be told.
    ``event`` is None for a no-op (nothing is stored and nothing is published).
    """

    alert: AlertRecord
    event: EventType | None
    reason: str = ""
    notify_tier: Tier | None = None


@dataclass(frozen=True)
class EscalationPolicy:
    """Per level, the tiers after CARE_STAFF and how long each waits before firing.

    ``ladders[level]`` is a tuple of ``(tier, delay_s)``: ``delay_s`` after the previous
    step fired (creation for the first), an unacknowledged alert moves to ``tier``.
    Levels without a ladder never escalate by themselves.
    """

    ladders: Mapping[Level, tuple[tuple[Tier, float], ...]] = field(
        default_factory=lambda: {
            Level.CRITICAL: (
                (Tier.HEALTH_PROVIDER, 60.0),
                (Tier.EMERGENCY_CONTACT, 120.0),
                (Tier.EMERGENCY_SERVICES, 120.0),
            ),
            Level.HIGH: ((Tier.HEALTH_PROVIDER, 300.0),),
        }
    )

    def __post_init__(self) -> None:
        for level, ladder in self.ladders.items():
            previous = Tier.CARE_STAFF
            for tier, delay in ladder:
                if tier <= previous:
                    raise ValueError(
                        f"{level.name} ladder must climb: {tier.name} after {previous.name}"
                    )
                if delay <= 0:
                    raise ValueError(f"{level.name} -> {tier.name}: delay must be > 0, got {delay}")
                previous = tier

    def next_step(self, level: Level, tier: Tier) -> tuple[Tier, float] | None:
        """The step that follows ``tier`` on ``level``'s ladder, or None at its top."""
        for step_tier, delay in self.ladders.get(level, ()):
            if step_tier > tier:
                return step_tier, delay
        return None

    def deadline_after(self, level: Level, tier: Tier, since: float) -> float | None:
        """When an alert that reached ``tier`` at ``since`` escalates next, if ever."""
        step = self.next_step(level, tier)
        return None if step is None else since + step[1]


def new_alert(
    *,
    alert_id: str,
    organization_id: str,
    resident_id: str,
    source: str,
    level: Level,
    categories: tuple[int, ...],
    excerpt: str,
    trace_id: str,
    now: float,
    policy: EscalationPolicy,
) -> Change:
    """A new OPEN alert at CARE_STAFF with its first deadline; raises ``ValueError`` below LOW."""
    if level < Level.LOW:
        raise ValueError(f"an alert needs level LOW or higher, got {level.name}")
    alert = AlertRecord(
        alert_id=alert_id,
        organization_id=organization_id,
        resident_id=resident_id,
        source=source,
        level=level,
        categories=tuple(sorted(set(categories))),
        excerpt=excerpt,
        trace_id=trace_id,
        state=AlertState.OPEN,
        tier=Tier.CARE_STAFF,
        acknowledged_by="",
        created_at=now,
        updated_at=now,
        next_escalation_at=policy.deadline_after(level, Tier.CARE_STAFF, now),
    )
    return Change(alert=alert, event=EventType.CREATED, notify_tier=Tier.CARE_STAFF)


def _target(alert: AlertRecord, action: Action) -> AlertState:
    target = TRANSITIONS.get((alert.state, action))
    if target is None:
        raise InvalidTransition(
            f"cannot {action.value} alert {alert.alert_id}: it is {alert.state.name}"
            + (f" (acknowledged by {alert.acknowledged_by})" if alert.acknowledged_by else "")
        )
    return target


def acknowledge(alert: AlertRecord, actor: str, note: str, now: float) -> Change:
    """Someone takes the alert on: escalation stops."""
    if alert.state is AlertState.ACKNOWLEDGED and alert.acknowledged_by == actor:
        return Change(alert=alert, event=None)  # a retried acknowledge is not an error
    state = _target(alert, Action.ACKNOWLEDGE)
    changed = dataclasses.replace(
        alert, state=state, acknowledged_by=actor, updated_at=now, next_escalation_at=None
    )
    return Change(alert=changed, event=EventType.ACKNOWLEDGED, reason=note)


def escalate(alert: AlertRecord, reason: str, now: float, policy: EscalationPolicy) -> Change:
    """Escalation by hand: the next tier at once, whatever the level's ladder says.

    A human's judgement outranks the policy, so a LOW alert can be escalated too; the
    policy's clock then restarts from ``now`` at the new tier if the ladder goes higher.
    """
    state = _target(alert, Action.ESCALATE)
    if alert.tier is Tier.EMERGENCY_SERVICES:
        raise InvalidTransition(
            f"cannot escalate alert {alert.alert_id}: it already reached EMERGENCY_SERVICES"
        )
    tier = Tier(alert.tier + 1)
    changed = dataclasses.replace(
        alert,
        state=state,
        tier=tier,
        updated_at=now,
        next_escalation_at=policy.deadline_after(alert.level, tier, now),
    )
    return Change(alert=changed, event=EventType.ESCALATED, reason=reason, notify_tier=tier)


def auto_escalate(alert: AlertRecord, now: float, policy: EscalationPolicy) -> Change:
    """Escalation by policy of an alert whose deadline has passed.

    The next deadline counts from the deadline that fired, not from ``now``: after an
    outage of every worker, an alert climbs one tier per pass until it is where the policy
    says it should be by now, instead of starting the ladder over.

    Returns a no-op when the alert is not due (acknowledged, resolved, no deadline, or the
    deadline is still ahead): the store may hand over a row another worker just changed.
    """
    due = alert.next_escalation_at
    if due is None or due > now or alert.state not in (AlertState.OPEN, AlertState.ESCALATED):
        return Change(alert=alert, event=None)
    step = policy.next_step(alert.level, alert.tier)
    if step is None:  # the ladder changed under a stored deadline: stop, do not guess
        return Change(alert=dataclasses.replace(alert, next_escalation_at=None), event=None)
    tier, _delay = step
    changed = dataclasses.replace(
        alert,
        state=AlertState.ESCALATED,
        tier=tier,
        updated_at=now,
        next_escalation_at=policy.deadline_after(alert.level, tier, due),
    )
    reason = f"not acknowledged by {alert.tier.name} in time"
    return Change(alert=changed, event=EventType.ESCALATED, reason=reason, notify_tier=tier)


def resolve(alert: AlertRecord, resolution: str, now: float) -> Change:
    """Close the alert with an outcome; nothing escalates after this."""
    if alert.state is AlertState.RESOLVED:
        raise InvalidTransition(f"cannot resolve alert {alert.alert_id}: it is already RESOLVED")
    state = _target(alert, Action.RESOLVE)
    changed = dataclasses.replace(alert, state=state, updated_at=now, next_escalation_at=None)
    return Change(alert=changed, event=EventType.RESOLVED, reason=resolution)


def retry_delay(attempts: int, base: float, cap: float) -> float:
    """Exponential backoff for the ``attempts``-th failed delivery: base, 2*base, ... <= cap."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    return float(min(cap, base * 2 ** min(attempts - 1, 62)))
