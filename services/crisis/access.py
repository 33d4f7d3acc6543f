"""Which alerts the caller may see, from the mesh's RBAC decision (pure).

``decision.visible_residents`` (set for calls that name no resident) lists the residents
the caller's scopes reach; ``None`` means organisation-wide. Organisation-wide access by
a user is confined to the user's organisation; a trusted service (mTLS) is not confined,
because it acts for the whole platform. Without any admission (the test-only ``AllowAll``
controller) nothing is restricted; an admission without a decision sees nothing (fail
closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mesh.identity.principal import Role

__all__ = ["Visibility", "actor_of", "visibility_of"]


@dataclass(frozen=True)
class Visibility:
    residents: frozenset[str] | None = None
    """Residents the caller may see; None = no per-resident restriction."""
    organization_id: str | None = None
    """The only organisation the caller may see; None = any."""

    def allows(self, organization_id: str, resident_id: str) -> bool:
        return (self.residents is None or resident_id in self.residents) and (
            self.organization_id is None or organization_id == self.organization_id
        )

    def narrow(self, residents: frozenset[str]) -> frozenset[str]:
        """The requested residents the caller may see (an empty request means all)."""
        if self.residents is None:
            return residents
        return residents & self.residents if residents else self.residents


NOTHING = Visibility(residents=frozenset())


def visibility_of(admission: Any) -> Visibility:
    """Visibility for the call whose ``mesh.access.Admission`` is ``admission``."""
    if admission is None:
        return Visibility()
    decision = getattr(admission, "decision", None)
    if decision is None or not getattr(decision, "allowed", False):
        return NOTHING
    principal = getattr(admission, "principal", None)
    residents = decision.visible_residents
    if residents is not None:
        return Visibility(residents=frozenset(residents))
    if principal is None or principal.is_service:
        return Visibility()
    return Visibility(organization_id=principal.organization_id)


def actor_of(admission: Any) -> str:
    """Who the event names as its actor: a user's subject, or ``service:<name>`` for a
    service calling on its own account (system components use ``system:<part>``)."""
    principal = getattr(admission, "principal", None)
    if principal is None:
        return "anonymous"
    return f"service:{principal.subject}" if principal.is_service else str(principal.subject)


def may_close_alerts(admission: Any) -> bool:
    """Residents hold ``alerts.write`` on themselves only to raise an alert ("I need
    help"); acknowledging or resolving their own crisis is for the people helping."""
    principal = getattr(admission, "principal", None)
    return principal is None or principal.is_service or principal.role is not Role.RESIDENT
