"""``python -m services.billing``: serve BillingService (needs DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from mesh.runner import ServiceDeps, run
from services.billing.servicer import BillingServicer
from services.billing.store import BillingStore


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    return [BillingServicer(BillingStore(deps.db), clock=deps.clock)]


if __name__ == "__main__":
    run(
        "billing",
        build,
        default_port=8081,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
    )
