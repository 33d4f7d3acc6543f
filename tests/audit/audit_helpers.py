"""Shared values for audit tests (imported by module name: tests/ is not a package)."""

from __future__ import annotations

from pathlib import Path

from services.audit.logic import AuditEventData, KeyRing

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "audit" / "migrations"
KEYS = KeyRing("k1", {"k1": b"test-audit-key-0123456789abcdef-0123"})


def make_event(i: int, **overrides: object) -> AuditEventData:
    fields: dict[str, object] = {
        "audit_id": f"a-{i}",
        "actor_user_id": f"user-{i % 3}",
        "actor_role": "ROLE_HEALTH_PROVIDER",
        "event_type": "phi_access",
        "action": "read",
        "resource": "phi",
        "outcome": "ALLOWED",
        "occurred_at_us": 1_735_689_600_000_000 + i,
        "resident_id": f"res-{i % 2}",
        "phi_accessed": True,
        "additional_context": {"rpc": "/x/Y", "n": str(i)},
    }
    fields.update(overrides)
    return AuditEventData(**fields)  # type: ignore[arg-type]
