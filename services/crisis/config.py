"""Crisis settings, read from the environment in one place.

==================================  ==========================================================
``LILO_CRISIS_ALERT_LEVEL``         ScreenContent raises an alert at this level or above
                                    (LOW, MEDIUM, HIGH, CRITICAL or 2..5; default HIGH)
``LILO_CRISIS_ESCALATION_CRITICAL``  seconds between CRITICAL tiers: ``60,120,120`` (health
                                    provider, emergency contact, emergency services)
``LILO_CRISIS_ESCALATION_HIGH``      seconds before HIGH goes to the health provider: ``300``
``LILO_CRISIS_FEED_CHANNEL``         Redis pub/sub channel of the feed (``lilo:crisis:feed``)
``LILO_CRISIS_POLL_S``               how often idle watchers check PostgreSQL for missed events
``LILO_CRISIS_WORKER_S``             how often the escalator looks for due work
==================================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.crisis import CrisisConfigError
from services.crisis.logic import EscalationPolicy, Level, Tier

__all__ = ["CrisisConfig", "config_from_env", "parse_level"]

_CRITICAL_TIERS = (Tier.HEALTH_PROVIDER, Tier.EMERGENCY_CONTACT, Tier.EMERGENCY_SERVICES)


@dataclass(frozen=True, kw_only=True)
class CrisisConfig:
    alert_level: Level = Level.HIGH
    policy: EscalationPolicy = field(default_factory=EscalationPolicy)
    channel: str = "lilo:crisis:feed"
    poll_interval: float = 1.0
    """Idle watchers compare their position with max(seq) this often (repairs lost publishes)."""
    worker_interval: float = 1.0
    escalation_batch: int = 100
    delivery_batch: int = 100
    delivery_lease: float = 30.0
    """A claimed delivery is retried by anyone after this long (its worker may have died)."""
    retry_base: float = 1.0
    retry_cap: float = 300.0
    excerpt_limit: int = 2000


def parse_level(text: str) -> Level:
    value = text.strip().upper().removeprefix("CRISIS_LEVEL_")
    try:
        level = Level(int(value)) if value.isdigit() else Level[value]
    except (KeyError, ValueError):
        raise CrisisConfigError(f"unknown crisis level {text!r}") from None
    if level < Level.LOW:
        raise CrisisConfigError(f"alert level must be LOW or higher, got {level.name}")
    return level


def _delays(name: str, text: str, count: int) -> list[float]:
    try:
        delays = [float(part) for part in text.split(",")]
    except ValueError:
        raise CrisisConfigError(f"{name}: expected comma-separated seconds, got {text!r}") from None
    if not 1 <= len(delays) <= count or any(d <= 0 for d in delays):
        raise CrisisConfigError(f"{name}: expected 1..{count} positive delays, got {text!r}")
    return delays


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise CrisisConfigError(f"{name} must be a number of seconds, got {text!r}") from None
    if value <= 0:
        raise CrisisConfigError(f"{name} must be > 0, got {text!r}")
    return value


def config_from_env(env: Mapping[str, str]) -> CrisisConfig:
    """Build the config from ``env`` (pass ``os.environ``); raises ``CrisisConfigError``."""
    level = parse_level(env.get("LILO_CRISIS_ALERT_LEVEL", "") or "HIGH")
    ladders = dict(EscalationPolicy().ladders)
    critical = env.get("LILO_CRISIS_ESCALATION_CRITICAL", "")
    if critical:
        delays = _delays("LILO_CRISIS_ESCALATION_CRITICAL", critical, 3)
        ladders[Level.CRITICAL] = tuple(zip(_CRITICAL_TIERS, delays, strict=False))
    high = env.get("LILO_CRISIS_ESCALATION_HIGH", "")
    if high:
        delays = _delays("LILO_CRISIS_ESCALATION_HIGH", high, 3)
        ladders[Level.HIGH] = tuple(zip(_CRITICAL_TIERS, delays, strict=False))
    return CrisisConfig(
        alert_level=level,
        policy=EscalationPolicy(ladders),
        channel=env.get("LILO_CRISIS_FEED_CHANNEL", "") or "lilo:crisis:feed",
        poll_interval=_float(env, "LILO_CRISIS_POLL_S", 1.0),
        worker_interval=_float(env, "LILO_CRISIS_WORKER_S", 1.0),
    )
