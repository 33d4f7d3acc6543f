"""Notifiers: how an alert reaches people outside the feed (pager, SMS, emergency line).

A notifier is called at least once per (alert, tier reached): deliveries go through the
``crisis.deliveries`` outbox and a worker that dies between calling ``notify`` and
recording success causes a second call after the claim's lease. Notifiers that talk to
the outside world should therefore be idempotent on ``(alert.alert_id, tier)``.
"""

from __future__ import annotations

import logging
from typing import Protocol

from lilo.crisis.v1 import crisis_service_pb2 as pb

from services.crisis.logic import Level, Tier

__all__ = ["LoggingNotifier", "Notifier"]

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """Delivers an alert to a tier. Raise to have the delivery retried with backoff."""

    @property
    def name(self) -> str:
        """Stable name stored in the outbox; must be the same on every instance."""
        ...

    async def notify(self, alert: pb.Alert, tier: Tier) -> None: ...


class LoggingNotifier:
    """Records each delivery in the log (and in ``delivered``, for tests and demos).

    Logs ids, level and tier only: the excerpt is masked but still sensitive.
    """

    def __init__(self, name: str = "logging") -> None:
        self._name = name
        self.delivered: list[tuple[str, Tier]] = []

    @property
    def name(self) -> str:
        return self._name

    async def notify(self, alert: pb.Alert, tier: Tier) -> None:
        log.warning(
            "crisis alert %s (level %s) delivered to %s",
            alert.alert_id,
            Level(alert.level).name,
            Tier(tier).name,
        )
        self.delivered.append((alert.alert_id, Tier(tier)))
