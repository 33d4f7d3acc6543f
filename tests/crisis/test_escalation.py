"""Escalation and delivery against real PostgreSQL, with racing workers and a FakeClock."""

from __future__ import annotations

import asyncio
from typing import Any

from lilo.crisis.v1 import crisis_service_pb2 as pb

from mesh.db import create_pool
from services.crisis.escalator import Escalator
from services.crisis.feed import FeedBus
from services.crisis.logic import Tier
from services.crisis.notifiers import LoggingNotifier
from services.crisis.store import CrisisStore

from .conftest import Cluster
from .test_service import collect, create


async def escalated_count(cluster: Cluster, alert_id: str | None = None) -> int:
    pool = cluster.nodes[0].pool
    if alert_id is None:
        return int(await pool.fetchval("SELECT count(*) FROM crisis.events WHERE type = 3"))
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM crisis.events WHERE type = 3 AND alert_id = $1", alert_id
        )
    )


async def test_racing_workers_escalate_each_critical_alert_exactly_once(cluster: Cluster) -> None:
    a = await cluster.start()
    b = await cluster.start()
    alerts = [await create(a, resident=f"res-{i}", level=5) for i in range(20)]
    high = await create(a, level=4)
    watcher = b.stub.WatchAlerts(pb.WatchAlertsRequest(resume_cursor="21", min_level=5))  # type: ignore[arg-type]

    cluster.clock.advance(59)
    assert await a.instance.escalator.escalate_due() == []  # not yet due

    cluster.clock.advance(2)  # past the 60 s deadline of every CRITICAL alert
    first, second = await asyncio.gather(
        a.instance.escalator.escalate_due(), b.instance.escalator.escalate_due()
    )
    assert len(first) + len(second) == 20
    fired = [e.to_pb().alert.alert_id for e in (*first, *second)]
    assert sorted(fired) == sorted(a.alert_id for a in alerts)
    for alert in alerts:
        assert await escalated_count(cluster, alert.alert_id) == 1
        got = await b.stub.GetAlert(pb.GetAlertRequest(alert_id=alert.alert_id))
        assert got.alert.tier == pb.ESCALATION_TIER_HEALTH_PROVIDER
        assert got.alert.state == pb.ALERT_STATE_ESCALATED
    assert await escalated_count(cluster, high.alert_id) == 0  # HIGH waits 300 s

    # Another pass at the same time finds nothing: the deadlines moved on.
    again = await asyncio.gather(
        a.instance.escalator.escalate_due(), b.instance.escalator.escalate_due()
    )
    assert [len(events) for events in again] == [0, 0]

    # The next step fires 120 s after the previous deadline, once again exactly once.
    cluster.clock.advance(120)
    third, fourth = await asyncio.gather(
        a.instance.escalator.escalate_due(), b.instance.escalator.escalate_due()
    )
    assert len(third) + len(fourth) == 20
    events = await collect(watcher, 40)
    watcher.cancel()
    assert [int(e.cursor) for e in events] == list(range(22, 62))
    assert all(e.type == pb.ALERT_EVENT_TYPE_ESCALATED for e in events)
    assert all(e.actor == "system:escalator" for e in events)
    tiers = sorted(e.alert.tier for e in events)
    assert tiers == [2] * 20 + [3] * 20


async def test_restarted_escalator_still_fires_a_deadline_set_before_the_restart(
    cluster: Cluster,
) -> None:
    node = await cluster.start()
    alert = await create(node, level=5)
    await node.crash()  # the instance that created the alert (and its worker) is gone

    # A new process: new pool, new worker, same database.
    pool = await create_pool(cluster.db_url)
    cluster.stack.push_async_callback(pool.close)
    store = CrisisStore(pool)
    bus = FeedBus(None, store, channel=cluster.config.channel)
    notifier = LoggingNotifier()
    worker = Escalator(store, bus, [notifier], config=cluster.config, clock=cluster.clock)
    cluster.clock.advance(61)
    events = await worker.escalate_due()
    assert [e.to_pb().alert.alert_id for e in events] == [alert.alert_id]
    assert events[0].to_pb().alert.tier == pb.ESCALATION_TIER_HEALTH_PROVIDER
    # Deliveries written by the dead instance are delivered by the new one.
    assert await worker.deliver_due() == 2
    assert sorted(t for _, t in notifier.delivered) == [Tier.CARE_STAFF, Tier.HEALTH_PROVIDER]


async def test_acknowledged_alerts_do_not_escalate(cluster: Cluster) -> None:
    node = await cluster.start()
    acked = await create(node, level=5)
    await node.stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=acked.alert_id))
    open_one = await create(node, level=5)
    cluster.clock.advance(10_000)
    events = []
    for _ in range(5):  # catch-up climbs one tier per claim, up to the top
        events += await node.instance.escalator.escalate_due()
    assert await escalated_count(cluster, acked.alert_id) == 0
    got = await node.stub.GetAlert(pb.GetAlertRequest(alert_id=acked.alert_id))
    assert got.alert.state == pb.ALERT_STATE_ACKNOWLEDGED
    assert got.alert.tier == pb.ESCALATION_TIER_CARE_STAFF
    # The unacknowledged one caught up to the top of the ladder, one event per tier.
    assert await escalated_count(cluster, open_one.alert_id) == 3
    top = await node.stub.GetAlert(pb.GetAlertRequest(alert_id=open_one.alert_id))
    assert top.alert.tier == pb.ESCALATION_TIER_EMERGENCY_SERVICES
    assert not top.alert.HasField("next_escalation_at")


class FlakyNotifier:
    name = "pager"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[tuple[str, Tier]] = []

    async def notify(self, alert: Any, tier: Tier) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("pager gateway down")
        self.delivered.append((alert.alert_id, tier))


async def test_deliveries_retry_with_backoff_and_record_one_notified_event(
    cluster: Cluster,
) -> None:
    pager = FlakyNotifier(failures=2)
    node = await cluster.start(notifiers=[pager])
    alert = await create(node, level=4)
    worker = node.instance.escalator
    assert await worker.deliver_due() == 0  # attempt 1 fails
    assert await worker.deliver_due() == 0  # not due again yet: nothing is attempted
    assert pager.calls == 1
    cluster.clock.advance(1.0)  # base backoff
    assert await worker.deliver_due() == 0  # attempt 2 fails
    cluster.clock.advance(1.5)
    assert await worker.deliver_due() == 0 and pager.calls == 2  # backoff doubled to 2 s
    cluster.clock.advance(0.5)
    assert await worker.deliver_due() == 1  # attempt 3 succeeds
    assert pager.delivered == [(alert.alert_id, Tier.CARE_STAFF)]
    row = await node.pool.fetchrow(
        "SELECT status, attempts, last_error FROM crisis.deliveries WHERE alert_id = $1",
        alert.alert_id,
    )
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, "")
    notified = await node.pool.fetch(
        "SELECT actor, reason FROM crisis.events WHERE type = 5 AND alert_id = $1", alert.alert_id
    )
    assert [(r["actor"], r["reason"]) for r in notified] == [
        ("system:notifier:pager", "pager notified CARE_STAFF")
    ]
    cluster.clock.advance(3600)
    assert await worker.deliver_due() == 0 and pager.calls == 3  # never delivered twice


async def test_a_claimed_delivery_of_a_dead_worker_is_retried_after_its_lease(
    cluster: Cluster,
) -> None:
    node = await cluster.start()
    alert = await create(node, level=4)
    store = node.instance.store
    claimed = await store.claim_deliveries(cluster.clock.wall(), 10, lease=30.0)
    assert [c.alert.alert_id for c in claimed] == [alert.alert_id]
    # ...and the worker dies here. Within the lease nobody else takes it:
    assert await node.instance.escalator.deliver_due() == 0
    cluster.clock.advance(30)
    assert await node.instance.escalator.deliver_due() == 1
    assert node.notifier is not None and node.notifier.delivered == [
        (alert.alert_id, Tier.CARE_STAFF)
    ]
