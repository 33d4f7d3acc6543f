"""The feed's ordering guarantee against real PostgreSQL: commit order == cursor order.

Writers append events in transactions that stay open for random, overlapping lengths of
time; a reader repeatedly reads ``max(seq)`` and then the range below it. If a lower
``seq`` could commit after a higher one, the reader would at some point see the higher
one without the lower one: a gap that a resuming watcher would skip for ever.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg

from mesh.db import create_pool
from services.crisis.logic import EscalationPolicy, EventType, Level, new_alert
from services.crisis.store import CrisisStore, FeedFilter, _append_event

WRITERS = 8
EVENTS_PER_WRITER = 30


async def _seed_alert(store: CrisisStore) -> str:
    change = new_alert(
        alert_id=str(uuid.uuid4()),
        organization_id="org-1",
        resident_id="res-1",
        source="t",
        level=Level.LOW,
        categories=(),
        excerpt="",
        trace_id="",
        now=1.0,
        policy=EscalationPolicy(),
    )
    record, _ = await store.create(change, actor="t", idempotency_key="", notifiers=[], now=1.0)
    return record.alert_id


async def test_concurrent_writers_never_expose_a_gap(db_url: str) -> None:
    pool = await create_pool(db_url, max_size=WRITERS + 2)
    try:
        store = CrisisStore(pool)
        alert_id = await _seed_alert(store)  # seq 1
        record = await store.get(alert_id)
        assert record is not None
        rng = random.Random(7)
        done = asyncio.Event()
        observations = 0

        async def writer(index: int) -> None:
            for _ in range(EVENTS_PER_WRITER):
                hold = rng.random() * 0.004
                async with pool.acquire() as conn, conn.transaction():
                    # Some work before the append, some after: transactions overlap and
                    # would commit out of seq order without the feed lock.
                    await asyncio.sleep(hold)
                    await _append_event(conn, record, EventType.NOTIFIED, f"w{index}", "", 2.0)
                    await asyncio.sleep(hold)

        async def reader() -> None:
            nonlocal observations
            seen = 0
            while not done.is_set() or seen < await store.max_seq():
                tail = await store.max_seq()
                events = await store.events_between(0, tail, FeedFilter(), 100_000)
                seqs = [e.seq for e in events]
                assert seqs == list(range(1, tail + 1)), f"gap below {tail}"
                seen = tail
                observations += 1

        reading = asyncio.create_task(reader())
        await asyncio.gather(*(writer(i) for i in range(WRITERS)))
        done.set()
        await asyncio.wait_for(reading, 30)
        assert observations > 10  # the reader really interleaved with the writers
        assert await store.max_seq() == 1 + WRITERS * EVENTS_PER_WRITER
    finally:
        await pool.close()


async def test_a_rolled_back_append_leaves_no_hole(db_url: str) -> None:
    pool = await create_pool(db_url)
    try:
        store = CrisisStore(pool)
        alert_id = await _seed_alert(store)
        record = await store.get(alert_id)
        assert record is not None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await _append_event(conn, record, EventType.NOTIFIED, "x", "", 2.0)
                raise RuntimeError("crash before commit")
        except RuntimeError:
            pass
        async with pool.acquire() as conn, conn.transaction():
            event = await _append_event(conn, record, EventType.NOTIFIED, "y", "", 2.0)
        assert event.seq == 2  # the number of the rolled-back event is reused
        rows = await pool.fetch("SELECT seq FROM crisis.events ORDER BY seq")
        assert [r["seq"] for r in rows] == [1, 2]
    finally:
        await pool.close()


async def test_feed_lock_is_held_until_commit(db_url: str) -> None:
    """A second appender waits for the first to commit, so it cannot commit first."""
    a = await asyncpg.connect(db_url)
    b = await asyncpg.connect(db_url)
    pool = await create_pool(db_url)
    try:
        store = CrisisStore(pool)
        record = await store.get(await _seed_alert(store))
        assert record is not None
        tx_a = a.transaction()
        await tx_a.start()
        first = await _append_event(a, record, EventType.NOTIFIED, "a", "", 2.0)

        async def second() -> int:
            async with b.transaction():
                return (await _append_event(b, record, EventType.NOTIFIED, "b", "", 2.0)).seq

        waiting = asyncio.create_task(second())
        # Observe b blocked on the advisory lock (not a timing guess: PostgreSQL says so).
        for _ in range(500):
            wait = await pool.fetchval(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = $1", b.get_server_pid()
            )
            if wait == "advisory":
                break
            await asyncio.sleep(0.01)
        assert wait == "advisory"
        assert not waiting.done()
        await tx_a.commit()
        assert await asyncio.wait_for(waiting, 5) == first.seq + 1
    finally:
        await a.close()
        await b.close()
        await pool.close()
