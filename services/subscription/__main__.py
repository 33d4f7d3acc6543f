"""``python -m services.subscription``: serve SubscriptionService (needs DATABASE_URL;
REDIS_URL enables the shared GetSubscription cache)."""

from __future__ import annotations

from pathlib import Path

from mesh.cache import CacheConfig, TwoTierCache
from mesh.runner import ServiceDeps, run
from services.subscription.servicer import SubscriptionServicer
from services.subscription.store import SubscriptionStore


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    cache = TwoTierCache(deps.redis, CacheConfig(name="subscription"), clock=deps.clock)
    await cache.start()
    return [SubscriptionServicer(SubscriptionStore(deps.db), cache=cache, clock=deps.clock)]


if __name__ == "__main__":
    run(
        "subscription",
        build,
        default_port=8088,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
    )
