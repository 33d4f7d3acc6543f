"""Values shared by every detector: levels, categories, actions and ``Analysis``.

Enum values mirror ``lilo/safety/v1/safety_service.proto`` number for number, so the
servicer converts with ``int()``; the UNSPECIFIED zero values are left out because a
detector never produces them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from services.safety.phi import PhiCategory, PhiSpan

__all__ = [
    "Analysis",
    "CrisisCategory",
    "CrisisLevel",
    "RecommendedAction",
    "make_analysis",
]


class CrisisLevel(IntEnum):
    """How urgently a human must look at a message; mirrors ``CrisisLevel``."""

    NONE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5


class CrisisCategory(IntEnum):
    """The kind of danger; mirrors ``CrisisCategory``."""

    SUICIDAL_IDEATION = 1
    SELF_HARM = 2
    HARM_TO_OTHERS = 3
    ABUSE_NEGLECT = 4
    MEDICAL_EMERGENCY = 5
    SEVERE_DISTRESS = 6
    SUBSTANCE_MISUSE = 7


class RecommendedAction(IntEnum):
    """What the platform should do next; mirrors ``RecommendedAction``."""

    CONTINUE = 1
    MONITOR = 2
    NOTIFY_CARE_TEAM = 3
    IMMEDIATE_INTERVENTION = 4
    EMERGENCY_SERVICES = 5


# One action per level: the action is a function of the level, never chosen separately,
# so two detectors that agree on the level can never disagree on what to do.
ACTION_FOR_LEVEL: dict[CrisisLevel, RecommendedAction] = {
    CrisisLevel.NONE: RecommendedAction.CONTINUE,
    CrisisLevel.LOW: RecommendedAction.MONITOR,
    CrisisLevel.MEDIUM: RecommendedAction.NOTIFY_CARE_TEAM,
    CrisisLevel.HIGH: RecommendedAction.IMMEDIATE_INTERVENTION,
    CrisisLevel.CRITICAL: RecommendedAction.EMERGENCY_SERVICES,
}

# Safety score per level (1 = safe, 0 = in danger). A rule detector has no calibrated
# probability to offer, so the score is a fixed, monotone encoding of the level.
SCORE_FOR_LEVEL: dict[CrisisLevel, float] = {
    CrisisLevel.NONE: 1.0,
    CrisisLevel.LOW: 0.8,
    CrisisLevel.MEDIUM: 0.55,
    CrisisLevel.HIGH: 0.25,
    CrisisLevel.CRITICAL: 0.05,
}

ESCALATION_LEVEL = CrisisLevel.HIGH


@dataclass(frozen=True)
class Analysis:
    """The verdict on one message.

    ``categories`` are sorted by enum value without repeats; ``phi_spans`` are sorted and
    non-overlapping, in code points of the *original* text; ``masked_text`` is that text
    with every span replaced by ``[CATEGORY]``. ``reasons`` never quote the message, so
    they are safe to log.
    """

    level: CrisisLevel
    categories: tuple[CrisisCategory, ...]
    phi_spans: tuple[PhiSpan, ...]
    recommended_action: RecommendedAction
    escalation_required: bool
    safety_score: float
    masked_text: str
    reasons: tuple[str, ...]

    @property
    def crisis_detected(self) -> bool:
        """True at LOW and above, as the proto's ``crisis_detected`` defines it."""
        return self.level >= CrisisLevel.LOW

    @property
    def phi_categories(self) -> tuple[PhiCategory, ...]:
        """The PHI kinds found, in order of first appearance, without repeats."""
        return tuple(dict.fromkeys(span.category for span in self.phi_spans))


def make_analysis(
    level: CrisisLevel,
    categories: Iterable[CrisisCategory],
    phi_spans: tuple[PhiSpan, ...],
    masked_text: str,
    reasons: Iterable[str],
    safety_score: float | None = None,
) -> Analysis:
    """Build an ``Analysis`` whose derived fields (action, escalation) follow the level.

    ``safety_score`` defaults to the level's fixed score and is clamped to 0..1.
    """
    score = SCORE_FOR_LEVEL[level] if safety_score is None else safety_score
    return Analysis(
        level=level,
        categories=tuple(sorted(set(categories))),
        phi_spans=phi_spans,
        recommended_action=ACTION_FOR_LEVEL[level],
        escalation_required=level >= ESCALATION_LEVEL,
        safety_score=min(1.0, max(0.0, score)),
        masked_text=masked_text,
        reasons=tuple(dict.fromkeys(reasons)),
    )
