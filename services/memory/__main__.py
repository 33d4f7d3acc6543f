"""``python -m services.memory``: serve MemoryService (needs DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from mesh.runner import ServiceDeps, run
from services.memory.servicer import MemoryServicer
from services.memory.store import MemoryStore


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    return [MemoryServicer(MemoryStore(deps.db), clock=deps.clock)]


if __name__ == "__main__":
    run(
        "memory",
        build,
        default_port=8001,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
    )
