"""The live side of the crisis feed: Redis pub/sub fan-out and the gap-free watch loop.

PostgreSQL is the truth; Redis only makes delivery fast. ``FeedBus.publish`` runs after
commit and never fails the caller (the event is already stored). Each instance keeps one
subscription and hands every message to its local watchers' queues, and once per
``poll_interval`` it hands them the feed's ``max(seq)`` as a hint.

``watch`` (one per WatchAlerts stream) registers its queue BEFORE reading the database,
then replays ``(cursor, max]`` from PostgreSQL, then consumes the queue:

* ``seq <= last``            already sent (replay overlap, duplicate publish): skipped;
* ``seq == last + 1``        the next event: sent from the message itself;
* ``seq >  last + 1`` / hint  something was lost, reordered or never published (publisher
                             crashed after commit, Redis down, our queue overflowed):
                             ``(last, seq]`` is read from PostgreSQL, where it is complete
                             because events commit in seq order with no holes.

So each stream sends every matching event exactly once, in seq order, whichever instance
serves it and however often the client reconnects with its last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from mesh.background import raise_if_cancelling, stop_task
from mesh.status import InvalidArgument
from services.crisis.logic import EventType
from services.crisis.store import CrisisStore, FeedFilter, StoredEvent

__all__ = ["FeedBus", "Notice", "decode_message", "encode_message", "watch"]

log = logging.getLogger(__name__)

_PAGE = 500


@dataclass(frozen=True)
class Notice:
    """What a watcher's queue carries: an event, or (``event`` None) "the feed reached seq"."""

    seq: int
    event: StoredEvent | None = None


def encode_message(event: StoredEvent) -> bytes:
    header = {
        "seq": event.seq,
        "type": int(event.type),
        "actor": event.actor,
        "reason": event.reason,
        "occurred_at": event.occurred_at,
        "org": event.organization_id,
        "resident": event.resident_id,
        "level": event.level,
    }
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + event.alert


def decode_message(data: bytes) -> StoredEvent:
    """Parse a published message; raises ``ValueError``/``KeyError`` when it is malformed."""
    head, sep, alert = data.partition(b"\n")
    if not sep:
        raise ValueError("feed message has no header line")
    h = json.loads(head)
    return StoredEvent(
        seq=int(h["seq"]),
        type=EventType(int(h["type"])),
        alert=alert,
        actor=str(h["actor"]),
        reason=str(h["reason"]),
        occurred_at=float(h["occurred_at"]),
        organization_id=str(h["org"]),
        resident_id=str(h["resident"]),
        level=int(h["level"]),
    )


class FeedBus:
    """One instance's connection to the feed channel. Create and use it on one loop."""

    def __init__(
        self,
        redis: aioredis.Redis | None,
        store: CrisisStore,
        *,
        channel: str,
        poll_interval: float = 1.0,
        queue_size: int = 1024,
    ) -> None:
        self._redis = redis
        self._store = store
        self._channel = channel
        self._poll_interval = poll_interval
        self._queue_size = queue_size
        self._queues: set[asyncio.Queue[Notice]] = set()
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.publish_failures = 0

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Tell every instance about committed events. Never raises: losing a publish only
        delays watchers until their next poll, while failing here would make the client
        retry a write that already happened."""
        for event in events:
            if self._redis is None:
                self._fan_out(Notice(event.seq, event))  # single instance without Redis
                continue
            try:
                await self._redis.publish(self._channel, encode_message(event))
                self.published += 1
            except Exception as exc:
                self.publish_failures += 1
                log.warning("could not publish crisis event %d: %s", event.seq, exc)

    def start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        if self._redis is not None:
            self._tasks.append(loop.create_task(self._listen()))
        self._tasks.append(loop.create_task(self._poll()))

    async def close(self) -> None:
        for task in self._tasks:
            await stop_task(task)
        self._tasks.clear()

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue[Notice]]:
        """A queue that receives every notice from now on, registered before it is returned."""
        self.start()
        if self._redis is not None and not self._subscribed.is_set():
            # Not required for correctness (the poll repairs), only for prompt delivery.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), 2.0)
        queue: asyncio.Queue[Notice] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def _fan_out(self, notice: Notice) -> None:
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                # A full queue drops the notice; the watcher sees the gap at its next
                # notice or poll and reads the missing range from PostgreSQL.
                queue.put_nowait(notice)

    async def _listen(self) -> None:
        assert self._redis is not None
        backoff = 0.1
        while True:
            pubsub: Any = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        event = decode_message(message["data"])
                    except (ValueError, KeyError, TypeError) as exc:
                        log.warning("ignoring a malformed crisis feed message: %s", exc)
                        continue
                    self._fan_out(Notice(event.seq, event))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise_if_cancelling()
                log.warning("crisis feed subscription lost (%s); resubscribing", exc)
            finally:
                self._subscribed.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            if not self._queues:
                continue
            try:
                tail = await self._store.max_seq()
            except Exception as exc:
                raise_if_cancelling()
                log.warning("crisis feed poll failed: %s", exc)
                continue
            self._fan_out(Notice(tail))


async def watch(
    store: CrisisStore,
    bus: FeedBus,
    after: int | None,
    feed_filter: FeedFilter,
) -> AsyncIterator[StoredEvent]:
    """Every event with ``seq > after`` that passes ``feed_filter``, then live ones, forever.

    ``after`` None means "live only": start at the feed's current end. Raises
    ``InvalidArgument`` when ``after`` is beyond the feed's end (not a cursor of this feed:
    every cursor ever handed out is committed, so it is at most ``max(seq)``).
    """
    async with bus.subscription() as queue:
        tail = await store.max_seq()  # read AFTER subscribing: nothing falls in between
        if after is None:
            after = tail
        elif after > tail:
            raise InvalidArgument(
                f"resume_cursor {after} is ahead of the feed (last cursor {tail})"
            )
        last = after
        async for event in _between(store, last, tail, feed_filter):
            yield event
        last = tail
        while True:
            notice = await queue.get()
            if notice.seq <= last:
                continue
            live = notice.event
            if live is not None and notice.seq == last + 1:
                if feed_filter.matches(live.organization_id, live.resident_id, live.level):
                    yield live
                last = notice.seq
                continue
            async for event in _between(store, last, notice.seq, feed_filter):
                yield event
            last = notice.seq


async def _between(
    store: CrisisStore, after: int, upto: int, feed_filter: FeedFilter
) -> AsyncIterator[StoredEvent]:
    while after < upto:
        page = await store.events_between(after, upto, feed_filter, _PAGE)
        for event in page:
            yield event
        if len(page) < _PAGE:
            return
        after = page[-1].seq
