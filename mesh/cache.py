"""Two-tier read cache: an in-process LRU (L1) in front of Redis (L2), kept coherent by pub/sub.

Values are ``bytes`` (callers serialise, e.g. ``message.SerializeToString()``), so the same
value can live in both tiers. A read goes L1 -> L2 -> loader; a miss fills the tiers on the
way back. Contracts callers rely on:

* **Single flight.** Concurrent misses for one key in one process share one L2 read and one
  loader call; the others await its result (or its exception). A waiter that is cancelled
  does not cancel the shared load.
* **Invalidation across instances.** ``invalidate`` / ``set`` update L2, then publish the keys
  on ``lilo:cache:<name>:invalidate``; every other instance drops them from its L1. The
  publisher is named in the message, so an instance ignores its own messages.
* **No stale refill.** Each key has a generation bumped by every invalidation (local or
  remote); a load that started before an invalidation does not store its result in L1.
* **Bounded staleness.** A lost pub/sub message (Redis restart, partition) leaves a stale
  L1 entry for at most ``l1_ttl`` seconds; L2 entries expire after ``l2_ttl``.
* **Redis down.** L2 errors are counted (``result="error"``) and the loader is used; reads
  never fail because the cache is unavailable, ``invalidate`` only drops L1 then.

Metrics: ``lilo_cache_requests_total{tier="l1"|"l2", result="hit"|"miss"|"error"}``.

Exceptions: none of its own; the loader's exceptions propagate to every waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from mesh.background import raise_if_cancelling, stop_task
from mesh.clock import Clock, SystemClock

__all__ = ["CacheConfig", "LruTtl", "TwoTierCache", "cache_requests"]

log = logging.getLogger(__name__)

cache_requests = Counter(
    "lilo_cache_requests_total",
    "Cache lookups by tier and result.",
    ("tier", "result"),
)

Loader = Callable[[], Awaitable[bytes | None]]


@dataclass(frozen=True)
class CacheConfig:
    """Sizes and lifetimes. ``l1_ttl`` bounds how stale an instance can be if it misses an
    invalidation message; keep it short. ``l2_ttl`` bounds staleness after a crash between
    a database write and its invalidation."""

    name: str
    l1_max_entries: int = 10_000
    l1_ttl: float = 5.0
    l2_ttl: float = 60.0

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError("CacheConfig.name must be non-empty and contain no ':'")
        if self.l1_max_entries < 1 or self.l1_ttl <= 0 or self.l2_ttl <= 0:
            raise ValueError("cache sizes and TTLs must be positive")


class LruTtl:
    """A bounded LRU map whose entries expire ``ttl`` seconds after they were stored.

    Pure (the clock is injected); not thread-safe, meant for one event loop.
    """

    def __init__(self, max_entries: int, ttl: float, clock: Clock) -> None:
        self._max = max_entries
        self._ttl = ttl
        self._clock = clock
        self._data: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if self._clock.now() >= expires:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return value

    def put(self, key: str, value: bytes) -> None:
        self._data[key] = (value, self._clock.now() + self._ttl)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def drop(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data


class TwoTierCache:
    """See the module docstring. Call ``start()`` before use and ``close()`` at shutdown.

    ``redis`` may be None: the cache is then L1-only (single instance, tests, dev).
    """

    def __init__(
        self,
        redis: Redis | None,
        config: CacheConfig,
        *,
        clock: Clock | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.config = config
        self._redis = redis
        self._clock = clock or SystemClock()
        self._l1 = LruTtl(config.l1_max_entries, config.l1_ttl, self._clock)
        self._inflight: dict[str, asyncio.Future[bytes | None]] = {}
        self._generation: dict[str, int] = {}
        self._instance = instance_id or uuid.uuid4().hex
        self._channel = f"lilo:cache:{config.name}:invalidate"
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._expected: dict[str, list[asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to invalidations; returns once Redis confirmed the subscription, so a
        publish by another instance after ``start()`` returns is guaranteed to arrive."""
        if self._redis is None or self._listener is not None:
            return
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(self._channel)
        while True:  # wait for the server's subscribe confirmation
            message = await self._pubsub.get_message(timeout=5.0)
            if message is None:
                raise TimeoutError(f"no subscribe confirmation on {self._channel}")
            if message.get("type") == "subscribe":
                break
        self._listener = asyncio.create_task(self._listen(), name=f"cache-{self.config.name}")

    async def close(self) -> None:
        if self._listener is not None:
            await stop_task(self._listener)
            self._listener = None
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._channel)
            await self._pubsub.aclose()
            self._pubsub = None

    # -- reads -----------------------------------------------------------------------

    async def get(self, key: str, loader: Loader) -> bytes | None:
        """The value for ``key``: from L1, else L2, else ``loader()`` (whose non-None result
        is stored in both tiers). A None from the loader is returned and not cached."""
        value = self._l1.get(key)
        if value is not None:
            cache_requests.labels("l1", "hit").inc()
            return value
        cache_requests.labels("l1", "miss").inc()
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = future
            task = asyncio.create_task(self._fill(key, loader, future))
            self._tasks.add(task)  # keep a reference: the loop only holds weak ones
            task.add_done_callback(self._tasks.discard)
        # shield: one waiter's cancellation must not fail the load the others share.
        return await asyncio.shield(future)

    async def _fill(self, key: str, loader: Loader, future: asyncio.Future[bytes | None]) -> None:
        generation = self._generation.get(key, 0)
        try:
            value = await self._l2_get(key)
            if value is None:
                value = await loader()
                if value is not None:
                    await self._l2_set(key, value)
            if value is not None and self._generation.get(key, 0) == generation:
                self._l1.put(key, value)
            future.set_result(value)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # every waiter gets the loader's (or L2's) exception
            future.set_exception(exc)
        finally:
            self._inflight.pop(key, None)
            # Mark retrieved so an exception nobody awaited is not logged as "never retrieved".
            if future.done() and not future.cancelled():
                future.exception()

    async def _l2_get(self, key: str) -> bytes | None:
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(self._l2_key(key))
        except (RedisError, OSError) as exc:
            cache_requests.labels("l2", "error").inc()
            log.warning("cache %s: L2 read failed: %s", self.config.name, exc)
            return None
        cache_requests.labels("l2", "hit" if raw is not None else "miss").inc()
        if raw is None:
            return None
        return raw.encode() if isinstance(raw, str) else bytes(raw)

    async def _l2_set(self, key: str, value: bytes) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.set(self._l2_key(key), value, px=int(self.config.l2_ttl * 1000))
        except (RedisError, OSError) as exc:
            cache_requests.labels("l2", "error").inc()
            log.warning("cache %s: L2 write failed: %s", self.config.name, exc)

    # -- writes ----------------------------------------------------------------------

    async def set(self, key: str, value: bytes) -> None:
        """Write-through: store in both tiers and tell other instances to drop their copy."""
        self._bump(key)
        await self._l2_set(key, value)
        self._l1.put(key, value)
        await self._publish([key])

    async def invalidate(self, *keys: str) -> None:
        """Drop ``keys`` from both tiers here and from L1 everywhere else. Call it after the
        database write committed, so a concurrent reader cannot re-cache the old row."""
        if not keys:
            return
        for key in keys:
            self._bump(key)
            self._l1.drop(key)
        if self._redis is not None:
            try:
                await self._redis.delete(*(self._l2_key(k) for k in keys))
            except (RedisError, OSError) as exc:
                cache_requests.labels("l2", "error").inc()
                log.warning("cache %s: L2 delete failed: %s", self.config.name, exc)
        await self._publish(list(keys))

    # -- invalidation plumbing -------------------------------------------------------

    def expect_invalidation(self, key: str) -> asyncio.Future[None]:
        """A future resolved when another instance's invalidation of ``key`` has been applied
        here. Register it before triggering the write (used by tests and by callers that need
        read-your-writes across instances)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._expected.setdefault(key, []).append(future)
        return future

    def _bump(self, key: str) -> None:
        self._generation[key] = self._generation.get(key, 0) + 1

    async def _publish(self, keys: list[str]) -> None:
        if self._redis is None:
            return
        payload = json.dumps({"origin": self._instance, "keys": keys})
        try:
            await self._redis.publish(self._channel, payload)
        except (RedisError, OSError) as exc:
            log.warning("cache %s: invalidation publish failed: %s", self.config.name, exc)

    def _apply_remote(self, payload: bytes | str) -> None:
        try:
            message = json.loads(payload)
            origin, keys = message["origin"], message["keys"]
        except (ValueError, KeyError, TypeError):
            log.warning("cache %s: ignoring malformed invalidation %r", self.config.name, payload)
            return
        if origin == self._instance:
            return
        for key in keys:
            if not isinstance(key, str):
                continue
            self._bump(key)
            self._l1.drop(key)
            for future in self._expected.pop(key, []):
                if not future.done():
                    future.set_result(None)

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                raise_if_cancelling()
                # Messages may have been lost while disconnected: forget L1 (bounded anyway).
                log.warning("cache %s: invalidation channel error: %s", self.config.name, exc)
                self._l1 = LruTtl(self.config.l1_max_entries, self.config.l1_ttl, self._clock)
                await asyncio.sleep(0.5)  # back off before the client reconnects
                continue
            if message is not None and message.get("type") == "message":
                self._apply_remote(message["data"])

    def _l2_key(self, key: str) -> str:
        return f"lilo:cache:{self.config.name}:{key}"
