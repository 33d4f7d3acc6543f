"""The crisis service end to end: several instances on one PostgreSQL and one Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.crisis.v1 import crisis_service_pb2 as pb
from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc
from lilo.safety.v1 import safety_service_pb2 as safety_pb
from lilo.safety.v1 import safety_service_pb2_grpc as safety_grpc

from mesh.client import ClientConfig, MeshClient
from mesh.registry import InMemoryRegistry
from mesh.testing import serve
from services.crisis.logic import EscalationPolicy, Level, new_alert
from services.safety.servicer import SafetyServicer

from .conftest import Cluster, Node

CRITICAL_TEXT = "I want to kill myself tonight, I have the pills right here. Ring 07700 900123"
SAFETY = "lilo.safety.v1.SafetyService"
GUARD = 20.0  # upper bound on any wait: a hang fails the test instead of blocking it


async def collect(stream: Any, count: int) -> list[pb.AlertEvent]:
    """The next ``count`` events of a WatchAlerts stream."""
    out: list[pb.AlertEvent] = []

    async def run() -> None:
        async for message in stream:
            out.append(message.event)
            if len(out) == count:
                return

    await asyncio.wait_for(run(), GUARD)
    return out


async def create(node: Node, resident: str = "res-1", level: int = 5, **kw: Any) -> pb.Alert:
    response: pb.CreateAlertResponse = await node.stub.CreateAlert(
        pb.CreateAlertRequest(resident_id=resident, level=level, source="test", **kw)  # type: ignore[arg-type]
    )
    return response.alert


async def safety_client(cluster: Cluster) -> Any:
    """A real SafetyService instance in discovery, called through the mesh client."""
    await cluster.stack.enter_async_context(serve([SafetyServicer()], registry=cluster.registry))
    client = MeshClient(cluster.registry, ClientConfig(health_check=False))
    cluster.stack.push_async_callback(client.close)
    channel = client.channel(SAFETY)
    await channel.wait_for_endpoints(1)
    return safety_grpc.SafetyServiceStub(channel)


# -- write path and fan-out ----------------------------------------------------------------


async def test_screened_message_raises_alert_seen_by_a_watcher_on_another_instance(
    cluster: Cluster,
) -> None:
    safety = await safety_client(cluster)
    a = await cluster.start(safety=safety)
    b = await cluster.start(safety=safety)
    stream = b.stub.WatchAlerts(pb.WatchAlertsRequest(replay_all=True))
    # Below the threshold: analysed, no alert.
    calm = await a.stub.ScreenContent(
        pb.ScreenContentRequest(resident_id="res-1", content="I feel a bit sad today")
    )
    assert calm.analysis.crisis_level == safety_pb.CRISIS_LEVEL_LOW
    assert not calm.HasField("alert")
    screened = await a.stub.ScreenContent(
        pb.ScreenContentRequest(resident_id="res-1", content=CRITICAL_TEXT, source="chat")
    )
    assert screened.analysis.crisis_level == safety_pb.CRISIS_LEVEL_CRITICAL
    assert not any("in-process" in r for r in screened.analysis.reasons)
    alert = screened.alert
    assert alert.level == safety_pb.CRISIS_LEVEL_CRITICAL
    assert alert.state == pb.ALERT_STATE_OPEN and alert.tier == pb.ESCALATION_TIER_CARE_STAFF
    assert "07700" not in alert.excerpt and "[PHONE]" in alert.excerpt
    assert alert.next_escalation_at.ToSeconds() == alert.created_at.ToSeconds() + 60
    [event] = await collect(stream, 1)
    stream.cancel()
    assert event.type == pb.ALERT_EVENT_TYPE_CREATED
    assert event.cursor == "1"
    assert event.alert == alert
    # Stored before it was told: the other instance reads it back.
    got = await b.stub.GetAlert(pb.GetAlertRequest(alert_id=alert.alert_id))
    assert got.alert == alert


async def test_screening_falls_back_to_the_rule_detector_when_safety_is_down(
    cluster: Cluster,
) -> None:
    empty = InMemoryRegistry()  # no SafetyService registered anywhere
    client = MeshClient(empty, ClientConfig(first_snapshot_timeout=0.2, health_check=False))
    cluster.stack.push_async_callback(client.close)
    node = await cluster.start(safety=safety_grpc.SafetyServiceStub(client.channel(SAFETY)))
    response = await node.stub.ScreenContent(
        pb.ScreenContentRequest(resident_id="res-1", content=CRITICAL_TEXT)
    )
    assert response.analysis.crisis_level == safety_pb.CRISIS_LEVEL_CRITICAL
    assert any(
        "UNAVAILABLE" in r and "in-process rule detector" in r for r in response.analysis.reasons
    )
    assert response.alert.level == safety_pb.CRISIS_LEVEL_CRITICAL
    assert "[PHONE]" in response.alert.excerpt


async def test_create_alert_masks_phi_validates_level_and_is_idempotent(cluster: Cluster) -> None:
    node = await cluster.start()
    first = await create(
        node, excerpt="call my daughter on 07700 900123", idempotency_key="k1", categories=[1]
    )
    assert "07700" not in first.excerpt and "[PHONE]" in first.excerpt
    again = await create(node, excerpt="other text", idempotency_key="k1", categories=[1])
    assert again.alert_id == first.alert_id and again.excerpt == first.excerpt
    with pytest.raises(aio.AioRpcError) as err:
        await create(node, resident="res-2", idempotency_key="k1")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    events = await node.pool.fetchval("SELECT count(*) FROM crisis.events")
    assert events == 1  # the retry told nobody anything new
    for level in (0, 1, 9):
        with pytest.raises(aio.AioRpcError) as err:
            await create(node, level=level)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "level" in (err.value.details() or "")
    with pytest.raises(aio.AioRpcError) as err:
        await create(node, resident="")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- watch: resume, failover, repair -------------------------------------------------------


async def test_watcher_survives_instance_crash_without_gap_or_duplicate(cluster: Cluster) -> None:
    a = await cluster.start()
    b = await cluster.start()
    total = 40
    created: list[str] = []
    first_half = asyncio.Event()

    async def producer() -> None:
        for i in range(total):
            alert = await create(b, resident=f"res-{i % 3}", level=4)
            created.append(alert.alert_id)
            if i == total // 2:
                first_half.set()

    producing = asyncio.create_task(producer())
    received: list[pb.AlertEvent] = []
    stream = a.stub.WatchAlerts(pb.WatchAlertsRequest(replay_all=True))
    received += await collect(stream, 10)
    await asyncio.wait_for(first_half.wait(), GUARD)
    await a.crash()  # mid-stream, while alerts keep being created
    with pytest.raises(aio.AioRpcError):
        async for message in stream:  # whatever was in flight, then the break
            received.append(message.event)
    cursor = received[-1].cursor
    resumed = b.stub.WatchAlerts(pb.WatchAlertsRequest(resume_cursor=cursor))
    await asyncio.wait_for(producing, GUARD)
    received += await collect(resumed, total - len(received))
    resumed.cancel()
    seqs = [int(e.cursor) for e in received]
    assert seqs == list(range(1, total + 1))  # nothing missed, nothing repeated, in order
    assert [e.alert.alert_id for e in received] == created


async def test_mesh_client_resumes_the_stream_on_another_instance(cluster: Cluster) -> None:
    a = await cluster.start()
    b = await cluster.start()
    client = MeshClient(cluster.registry, ClientConfig(health_check=False))
    cluster.stack.push_async_callback(client.close)
    channel = client.channel("lilo.crisis.v1.CrisisService")
    await channel.wait_for_endpoints(2)
    stub = pb_grpc.CrisisServiceStub(channel)
    for _ in range(3):
        await create(b)
    stream = stub.WatchAlerts(pb.WatchAlertsRequest(replay_all=True))
    events_in = aiter(stream)  # one iterator: each aiter() on a mesh stream is a new call
    events = await collect(events_in, 3)
    # Crash whichever instance serves the stream (the one with a registered watcher).
    victim, survivor = (a, b) if a.instance.bus._queues else (b, a)
    assert victim.instance.bus._queues and not survivor.instance.bus._queues
    await victim.crash()
    for _ in range(3):
        await create(survivor)
    events += await collect(events_in, 3)
    assert stream.resumes == 1
    assert [int(e.cursor) for e in events] == [1, 2, 3, 4, 5, 6]


async def test_live_only_watch_and_lost_publish_repaired_by_poll(cluster: Cluster) -> None:
    node = await cluster.start()
    await create(node)  # seq 1, before the watcher: not sent to a live-only watcher
    stream = node.stub.WatchAlerts(pb.WatchAlertsRequest())
    # An alert committed whose publish never happened (publisher crashed after commit).
    change = new_alert(
        alert_id="00000000-0000-4000-8000-000000000001",
        organization_id="",
        resident_id="res-1",
        source="t",
        level=Level.HIGH,
        categories=(),
        excerpt="",
        trace_id="",
        now=cluster.clock.wall(),
        policy=EscalationPolicy(),
    )
    # Make sure the stream is established before the silent write, via a published alert.
    published = await create(node)
    [first] = await collect(stream, 1)
    assert first.alert.alert_id == published.alert_id and first.cursor == "2"
    await node.instance.store.create(
        change, actor="t", idempotency_key="", notifiers=[], now=cluster.clock.wall()
    )
    [repaired] = await collect(stream, 1)
    stream.cancel()
    assert repaired.cursor == "3"
    assert repaired.alert.alert_id == change.alert.alert_id


async def test_gap_in_live_messages_is_filled_from_postgres(cluster: Cluster) -> None:
    node = await cluster.start()
    stream = node.stub.WatchAlerts(pb.WatchAlertsRequest(replay_all=True))
    first = await create(node)
    assert (await collect(stream, 1))[0].alert.alert_id == first.alert_id
    silent = new_alert(
        alert_id="00000000-0000-4000-8000-000000000002",
        organization_id="",
        resident_id="res-1",
        source="t",
        level=Level.HIGH,
        categories=(),
        excerpt="",
        trace_id="",
        now=cluster.clock.wall(),
        policy=EscalationPolicy(),
    )
    await node.instance.store.create(
        silent, actor="t", idempotency_key="", notifiers=[], now=cluster.clock.wall()
    )
    third = await create(node)  # published with seq 3 while the watcher is at 1
    events = await collect(stream, 2)
    stream.cancel()
    assert [e.cursor for e in events] == ["2", "3"]
    assert [e.alert.alert_id for e in events] == [silent.alert.alert_id, third.alert_id]


async def test_bad_cursors_are_invalid_argument(cluster: Cluster) -> None:
    node = await cluster.start()
    await create(node)
    for cursor in ("abc", "-1", "1.0", "999"):
        stream = node.stub.WatchAlerts(pb.WatchAlertsRequest(resume_cursor=cursor))
        with pytest.raises(aio.AioRpcError) as err:
            await asyncio.wait_for(collect(stream, 1), GUARD)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, cursor
        assert "resume_cursor" in (err.value.details() or "")


async def test_watch_filters_by_resident_and_level(cluster: Cluster) -> None:
    node = await cluster.start()
    stream = node.stub.WatchAlerts(
        pb.WatchAlertsRequest(replay_all=True, resident_ids=["res-2"], min_level=4)  # type: ignore[arg-type]
    )
    await create(node, resident="res-1", level=5)
    await create(node, resident="res-2", level=3)
    wanted = await create(node, resident="res-2", level=4)
    [event] = await collect(stream, 1)
    stream.cancel()
    assert event.alert.alert_id == wanted.alert_id and event.cursor == "3"


# -- state changes -------------------------------------------------------------------------


async def test_invalid_transitions_are_failed_precondition(cluster: Cluster) -> None:
    node = await cluster.start()
    alert = await create(node)
    acked = await node.stub.AcknowledgeAlert(
        pb.AcknowledgeAlertRequest(alert_id=alert.alert_id, note="with her now")
    )
    assert acked.alert.state == pb.ALERT_STATE_ACKNOWLEDGED
    assert not acked.alert.HasField("next_escalation_at")
    with pytest.raises(aio.AioRpcError) as err:
        await node.stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=alert.alert_id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    resolved = await node.stub.ResolveAlert(
        pb.ResolveAlertRequest(alert_id=alert.alert_id, resolution="calmed, GP informed")
    )
    assert resolved.alert.state == pb.ALERT_STATE_RESOLVED
    for call in (
        node.stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert.alert_id)),
        node.stub.EscalateAlert(pb.EscalateAlertRequest(alert_id=alert.alert_id)),
        node.stub.ResolveAlert(pb.ResolveAlertRequest(alert_id=alert.alert_id, resolution="x")),
    ):
        with pytest.raises(aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "RESOLVED" in (err.value.details() or "")
    for bad in ("", "not-a-uuid"):
        with pytest.raises(aio.AioRpcError) as err:
            await node.stub.GetAlert(pb.GetAlertRequest(alert_id=bad))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(aio.AioRpcError) as err:
        await node.stub.GetAlert(
            pb.GetAlertRequest(alert_id="00000000-0000-4000-8000-00000000ffff")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    types = [
        r["type"] for r in await node.pool.fetch("SELECT type FROM crisis.events ORDER BY seq")
    ]
    assert types == [
        pb.ALERT_EVENT_TYPE_CREATED,
        pb.ALERT_EVENT_TYPE_ACKNOWLEDGED,
        pb.ALERT_EVENT_TYPE_RESOLVED,
    ]


async def test_manual_escalation_is_an_event_and_notifies_the_new_tier(cluster: Cluster) -> None:
    node = await cluster.start()
    alert = await create(node, level=2)
    escalated = await node.stub.EscalateAlert(
        pb.EscalateAlertRequest(alert_id=alert.alert_id, reason="she is not answering")
    )
    assert escalated.alert.tier == pb.ESCALATION_TIER_HEALTH_PROVIDER
    assert escalated.alert.state == pb.ALERT_STATE_ESCALATED
    row = await node.pool.fetchrow("SELECT reason, actor FROM crisis.events WHERE seq = 2")
    assert row["reason"] == "she is not answering"
    assert await node.instance.escalator.deliver_due() == 2  # CARE_STAFF and HEALTH_PROVIDER
    assert node.notifier is not None
    assert sorted(t for _, t in node.notifier.delivered) == [1, 2]


async def test_list_alerts_pages_newest_first(cluster: Cluster) -> None:
    node = await cluster.start()
    ids = []
    for i in range(5):
        cluster.clock.advance(1)
        ids.append((await create(node, level=4 if i % 2 else 5)).alert_id)
    seen: list[str] = []
    token = ""
    while True:
        page = await node.stub.ListAlerts(pb.ListAlertsRequest(page_size=2, page_token=token))
        assert len(page.alerts) <= 2
        seen += [a.alert_id for a in page.alerts]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(ids))
    critical = await node.stub.ListAlerts(pb.ListAlertsRequest(min_level=5))  # type: ignore[arg-type]
    assert [a.alert_id for a in critical.alerts] == [ids[4], ids[2], ids[0]]
    await node.stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=ids[1]))
    acked = await node.stub.ListAlerts(pb.ListAlertsRequest(states=[pb.ALERT_STATE_ACKNOWLEDGED]))
    assert [a.alert_id for a in acked.alerts] == [ids[1]]
    with pytest.raises(aio.AioRpcError) as err:
        await node.stub.ListAlerts(pb.ListAlertsRequest(page_token="garbage!"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
