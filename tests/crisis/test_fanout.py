"""The fan-out builds each live event's WatchAlerts message once for all of an instance's
streams, without changing what any stream receives (real PostgreSQL, bus without Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from lilo.crisis.v1 import crisis_service_pb2 as pb

from mesh.db import create_pool
from services.crisis.feed import FeedBus, watch
from services.crisis.logic import EscalationPolicy, EventType, Level, new_alert
from services.crisis.store import CrisisStore, FeedFilter, StoredEvent


async def _create(store: CrisisStore, resident: str) -> StoredEvent:
    change = new_alert(
        alert_id=str(uuid.uuid4()),
        organization_id="org-1",
        resident_id=resident,
        source="chat",
        level=Level.CRITICAL,
        categories=(1,),
        excerpt="help",
        trace_id="",
        now=1.0,
        policy=EscalationPolicy(),
    )
    _, event = await store.create(change, actor="t", idempotency_key="", notifiers=[], now=1.0)
    assert event is not None
    return event


def test_watch_response_is_the_event_and_built_once() -> None:
    event = StoredEvent(
        seq=7,
        type=EventType.CREATED,
        alert=pb.Alert(alert_id="a-1", resident_id="r").SerializeToString(),
        actor="u",
        reason="",
        occurred_at=2.5,
        organization_id="org-1",
        resident_id="r",
        level=5,
    )
    first = event.watch_response
    assert first is event.watch_response
    assert first == pb.WatchAlertsResponse(event=event.to_pb())
    assert first.event.cursor == "7" and first.event.alert.alert_id == "a-1"


async def test_live_event_reaches_every_watcher_once_as_one_shared_message(db_url: str) -> None:
    pool = await create_pool(db_url, max_size=6)
    # No poll hint during the test: a hint would make watchers read the range from
    # PostgreSQL (correct, but then they would not share the published object).
    bus = FeedBus(None, CrisisStore(pool), channel="unused", poll_interval=3600)
    try:
        store = CrisisStore(pool)
        before = await _create(store, "res-1")  # replayed from PostgreSQL, not shared
        streams: list[AsyncIterator[StoredEvent]] = [
            watch(store, bus, 0, FeedFilter()) for _ in range(3)
        ]
        streams.append(watch(store, bus, 0, FeedFilter(residents=frozenset({"res-2"}))))
        for stream in streams[:3]:
            replayed = await anext(stream)
            assert replayed.seq == before.seq
        # Whether it subscribes before or after the publish, it replays what it missed.
        filtered = asyncio.ensure_future(anext(streams[3]))
        live = await _create(store, "res-1")
        other = await _create(store, "res-2")
        await bus.publish([live, other])
        got = [await asyncio.wait_for(anext(s), 5) for s in streams[:3]]
        assert all(e is got[0] for e in got), "one object per event, shared by the streams"
        assert got[0].seq == live.seq
        assert all(e.watch_response is got[0].watch_response for e in got)
        assert got[0].watch_response.event.alert.alert_id == live.to_pb().alert.alert_id
        nxt = [await asyncio.wait_for(anext(s), 5) for s in streams[:3]]
        assert [e.seq for e in nxt] == [other.seq] * 3  # no duplicate of `live`, no gap
        only = await asyncio.wait_for(filtered, 5)
        assert only.seq == other.seq and only.resident_id == "res-2"
        for stream in streams:
            await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await bus.close()
        await pool.close()
