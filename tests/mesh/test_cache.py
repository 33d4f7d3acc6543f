"""mesh.cache against a real Redis: tiers, cross-instance invalidation, single flight, TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from mesh.cache import CacheConfig, LruTtl, TwoTierCache
from mesh.clock import FakeClock


def sample(tier: str, result: str) -> float:
    value = REGISTRY.get_sample_value("lilo_cache_requests_total", {"tier": tier, "result": result})
    return value or 0.0


class Loader:
    def __init__(self, value: bytes | None) -> None:
        self.value = value
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self) -> bytes | None:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.value


@pytest.fixture
async def redis_client(redis_db_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_db_url)
    yield client
    await client.aclose()


@pytest.fixture
async def make_cache(
    redis_client: aioredis.Redis,
) -> AsyncIterator[Callable[..., TwoTierCache]]:
    made: list[TwoTierCache] = []

    def make(**kw: object) -> TwoTierCache:
        clock = kw.pop("clock", None)
        cache = TwoTierCache(redis_client, CacheConfig(name="t", **kw), clock=clock)  # type: ignore[arg-type]
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.close()


async def test_l1_hit_does_not_touch_l2_or_loader(make_cache: Callable[..., TwoTierCache]) -> None:
    cache = make_cache()
    await cache.start()
    load = Loader(b"v1")
    assert await cache.get("k", load) == b"v1"
    l1_hits, l2_total = sample("l1", "hit"), sample("l2", "hit") + sample("l2", "miss")
    assert await cache.get("k", load) == b"v1"
    assert load.calls == 1
    assert sample("l1", "hit") == l1_hits + 1
    assert sample("l2", "hit") + sample("l2", "miss") == l2_total


async def test_l2_hit_after_l1_eviction(make_cache: Callable[..., TwoTierCache]) -> None:
    cache = make_cache(l1_max_entries=1)
    await cache.start()
    first, second = Loader(b"one"), Loader(b"two")
    assert await cache.get("a", first) == b"one"
    assert await cache.get("b", second) == b"two"  # evicts "a" from L1
    l2_hits = sample("l2", "hit")
    assert await cache.get("a", first) == b"one"
    assert first.calls == 1, "served from Redis, not reloaded"
    assert sample("l2", "hit") == l2_hits + 1


async def test_cross_instance_invalidation(make_cache: Callable[..., TwoTierCache]) -> None:
    a, b = make_cache(), make_cache()
    await a.start()
    await b.start()
    assert await a.get("k", Loader(b"old")) == b"old"
    assert await b.get("k", Loader(b"never")) == b"old"  # from L2, now in b's L1
    applied = b.expect_invalidation("k")
    await a.set("k", b"new")
    await asyncio.wait_for(applied, timeout=5)
    stale_loader = Loader(b"stale")
    assert await b.get("k", stale_loader) == b"new"
    assert stale_loader.calls == 0


async def test_invalidate_makes_other_instance_reload(
    make_cache: Callable[..., TwoTierCache],
) -> None:
    a, b = make_cache(), make_cache()
    await a.start()
    await b.start()
    await b.get("k", Loader(b"v1"))
    applied = b.expect_invalidation("k")
    await a.invalidate("k")
    await asyncio.wait_for(applied, timeout=5)
    reload = Loader(b"v2")
    assert await b.get("k", reload) == b"v2"
    assert reload.calls == 1


async def test_single_flight_calls_loader_once(make_cache: Callable[..., TwoTierCache]) -> None:
    cache = make_cache()
    await cache.start()
    load = Loader(b"v")
    load.gate = asyncio.Event()
    waiters = [asyncio.create_task(cache.get("hot", load)) for _ in range(100)]
    await load.entered.wait()  # the one load is inside the loader; all 100 gets are waiting
    load.gate.set()
    results = await asyncio.gather(*waiters)
    assert results == [b"v"] * 100
    assert load.calls == 1


async def test_loader_error_reaches_every_waiter_and_is_not_cached(
    make_cache: Callable[..., TwoTierCache],
) -> None:
    cache = make_cache()
    calls = 0

    async def boom() -> bytes | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("db down")

    results = await asyncio.gather(
        *(cache.get("k", boom) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    assert await cache.get("k", Loader(b"ok")) == b"ok"


async def test_none_is_not_cached(make_cache: Callable[..., TwoTierCache]) -> None:
    cache = make_cache()
    missing = Loader(None)
    assert await cache.get("k", missing) is None
    assert await cache.get("k", missing) is None
    assert missing.calls == 2


async def test_l1_ttl_expiry_with_injected_clock(
    make_cache: Callable[..., TwoTierCache], redis_client: aioredis.Redis
) -> None:
    clock = FakeClock()
    cache = make_cache(l1_ttl=5.0, clock=clock)
    load = Loader(b"v1")
    await cache.get("k", load)
    clock.advance(4.9)
    l1_hits = sample("l1", "hit")
    await cache.get("k", load)
    assert sample("l1", "hit") == l1_hits + 1
    clock.advance(0.2)  # past the L1 TTL: falls through to L2 (still live there)
    l2_hits = sample("l2", "hit")
    assert await cache.get("k", load) == b"v1"
    assert sample("l2", "hit") == l2_hits + 1
    assert load.calls == 1


async def test_l2_entries_carry_a_ttl(
    make_cache: Callable[..., TwoTierCache], redis_client: aioredis.Redis
) -> None:
    cache = make_cache(l2_ttl=30.0)
    await cache.get("k", Loader(b"v"))
    ttl_ms = await redis_client.pttl("lilo:cache:t:k")
    assert 0 < ttl_ms <= 30_000


async def test_redis_down_falls_back_to_loader() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cache = TwoTierCache(dead, CacheConfig(name="dead"))
    errors = sample("l2", "error")
    load = Loader(b"v")
    assert await cache.get("k", load) == b"v"
    assert load.calls == 1
    assert sample("l2", "error") >= errors + 1
    await dead.aclose()


def test_lru_evicts_least_recently_used() -> None:
    lru = LruTtl(2, 10.0, FakeClock())
    lru.put("a", b"1")
    lru.put("b", b"2")
    assert lru.get("a") == b"1"  # a is now most recent
    lru.put("c", b"3")
    assert "b" not in lru
    assert lru.get("a") == b"1"
    assert lru.get("c") == b"3"


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        CacheConfig(name="a:b")
    with pytest.raises(ValueError):
        CacheConfig(name="x", l1_ttl=0)
