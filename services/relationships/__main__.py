"""``python -m services.relationships``: serve RelationshipService (needs DATABASE_URL;
REDIS_URL enables the shared CheckRelationship cache)."""

from __future__ import annotations

from pathlib import Path

from mesh.cache import CacheConfig, TwoTierCache
from mesh.runner import ServiceDeps, run
from services.relationships.servicer import RelationshipServicer
from services.relationships.store import RelationshipStore


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    cache = TwoTierCache(deps.redis, CacheConfig(name="relationships"), clock=deps.clock)
    await cache.start()
    return [RelationshipServicer(RelationshipStore(deps.db), cache=cache, clock=deps.clock)]


if __name__ == "__main__":
    run(
        "relationships",
        build,
        default_port=8087,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
    )
