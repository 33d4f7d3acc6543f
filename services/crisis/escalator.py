"""The escalation and delivery worker that runs next to every crisis servicer.

Each pass (``run_once``) does two things, both safe to run on any number of instances at
once and to be killed at any point:

* ``escalate_due``: alerts whose persisted ``next_escalation_at`` has passed move up one
  tier, in a transaction that claims the row with ``FOR UPDATE SKIP LOCKED`` and appends
  the ESCALATED event and the new tier's outbox rows. A crash rolls it back, so the
  deadline stays due and the next pass (on any instance) fires it.
* ``deliver_due``: outbox rows are claimed under a lease, handed to their notifier, then
  marked delivered with a NOTIFIED event; failures are retried with exponential backoff
  (capped, never abandoned: a crisis notification is not dropped).

``now`` always comes from the injected clock's ``wall()`` and goes into SQL as a parameter,
so tests drive time with ``FakeClock`` and never sleep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from mesh.background import raise_if_cancelling, stop_task
from mesh.clock import Clock, SystemClock
from services.crisis.config import CrisisConfig
from services.crisis.convert import alert_to_pb
from services.crisis.feed import FeedBus
from services.crisis.logic import auto_escalate, retry_delay
from services.crisis.notifiers import Notifier
from services.crisis.store import ClaimedDelivery, CrisisStore, StoredEvent

__all__ = ["ESCALATOR_ACTOR", "Escalator"]

log = logging.getLogger(__name__)

ESCALATOR_ACTOR = "system:escalator"


class Escalator:
    def __init__(
        self,
        store: CrisisStore,
        bus: FeedBus,
        notifiers: Sequence[Notifier],
        *,
        config: CrisisConfig | None = None,
        clock: Clock | None = None,
        notify_timeout: float = 10.0,
    ) -> None:
        self._store = store
        self._bus = bus
        self._notifiers = {n.name: n for n in notifiers}
        self._config = config or CrisisConfig()
        self._clock = clock or SystemClock()
        self._notify_timeout = notify_timeout
        self._task: asyncio.Task[None] | None = None

    async def escalate_due(self) -> list[StoredEvent]:
        """One claim pass over due escalations; returns the ESCALATED events it stored."""
        now = self._clock.wall()
        policy = self._config.policy
        events = await self._store.escalate_due(
            now,
            lambda alert: auto_escalate(alert, now, policy),
            actor=ESCALATOR_ACTOR,
            notifiers=list(self._notifiers),
            limit=self._config.escalation_batch,
        )
        await self._bus.publish(events)
        return events

    async def deliver_due(self) -> int:
        """One pass over due outbox rows; returns how many were delivered."""
        claimed = await self._store.claim_deliveries(
            self._clock.wall(), self._config.delivery_batch, self._config.delivery_lease
        )
        results = await asyncio.gather(*(self._deliver(d) for d in claimed))
        return sum(results)

    async def _deliver(self, delivery: ClaimedDelivery) -> bool:
        notifier = self._notifiers.get(delivery.notifier)
        try:
            if notifier is None:
                raise LookupError(f"no notifier named {delivery.notifier!r} on this instance")
            await asyncio.wait_for(
                notifier.notify(alert_to_pb(delivery.alert), delivery.tier), self._notify_timeout
            )
        except Exception as exc:
            delay = retry_delay(delivery.attempts, self._config.retry_base, self._config.retry_cap)
            log.warning(
                "delivery %d of alert %s to %s via %s failed (attempt %d), retry in %.0fs: %s",
                delivery.id,
                delivery.alert.alert_id,
                delivery.tier.name,
                delivery.notifier,
                delivery.attempts,
                delay,
                exc,
            )
            await self._store.mark_failed(
                delivery.id,
                error=f"{type(exc).__name__}: {exc}",
                retry_at=self._clock.wall() + delay,
            )
            return False
        event = await self._store.mark_delivered(
            delivery.id, actor=f"system:notifier:{delivery.notifier}", now=self._clock.wall()
        )
        if event is not None:
            await self._bus.publish([event])
        return True

    async def run_once(self) -> None:
        await self.escalate_due()
        await self.deliver_due()

    async def run_forever(self) -> None:
        """Pass after pass until cancelled; an error costs one pass, never the worker."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("crisis escalator pass failed; retrying")
            await asyncio.sleep(self._config.worker_interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self) -> None:
        """Cancel the loop. Safe mid-pass: open transactions roll back, leases expire."""
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
