"""``python -m services.consent``: the consent service (port 8083)."""

from __future__ import annotations

from pathlib import Path

from mesh import audit_sink
from mesh.facts import PgAccessFacts
from mesh.runner import ServiceDeps, run
from services.consent.servicer import ConsentServicer


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    await audit_sink.install(deps)  # GrantConsent/RevokeConsent are PHI rpcs
    return [ConsentServicer(deps.db, deps.clock)]


def main() -> None:
    run(
        "consent",
        build,
        default_port=8083,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
        facts=lambda deps: PgAccessFacts(deps.db, deps.clock),
        audit=audit_sink.sink_from_deps,
    )


if __name__ == "__main__":
    main()
