"""``python -m services.audit``: the audit service (port 8084)."""

from __future__ import annotations

import os
from pathlib import Path

from mesh.audit_sink import PostgresAuditSink, sink_from_deps
from mesh.runner import ServiceDeps, run
from services.audit.logic import keyring_from_env
from services.audit.servicer import AuditServicer
from services.audit.writer import AuditWriter


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    writer = AuditWriter(
        deps.db,
        keyring_from_env(os.environ),
        clock=deps.clock,
        writer_role=os.environ.get("LILO_AUDIT_DB_ROLE") or None,
    )
    # QueryEvents reads PHI-bearing records, so the audit service audits itself too.
    deps.extras["audit_sink"] = PostgresAuditSink(writer, service=deps.name, clock=deps.clock)
    return [AuditServicer(deps.db, writer)]


def main() -> None:
    run(
        "audit",
        build,
        default_port=8084,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
        audit=sink_from_deps,
    )


if __name__ == "__main__":
    main()
