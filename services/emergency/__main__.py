"""``python -m services.emergency``: the emergency (break-glass) access service (port 8085)."""

from __future__ import annotations

import os
from pathlib import Path

from mesh import audit_sink
from mesh.facts import PgAccessFacts
from mesh.runner import ServiceDeps, run
from services.emergency.logic import config_from_env
from services.emergency.servicer import EmergencyAccessServicer


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    sink = await audit_sink.install(deps)
    return [
        EmergencyAccessServicer(
            deps.db, sink.writer, config=config_from_env(os.environ), clock=deps.clock
        )
    ]


def main() -> None:
    run(
        "emergency_access",
        build,
        default_port=8085,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
        facts=lambda deps: PgAccessFacts(deps.db, deps.clock),
        audit=audit_sink.sink_from_deps,
    )


if __name__ == "__main__":
    main()
