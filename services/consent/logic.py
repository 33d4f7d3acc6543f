"""Pure consent rules: categories, who may grant, validation, effective status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mesh.identity.principal import ConsentLevel, Principal, Relationship
from mesh.status import InvalidArgument, PermissionDenied

__all__ = [
    "CATEGORY_RESOURCES",
    "Grant",
    "covered_resources",
    "effective",
    "grantor_kind",
    "validate_grant",
]

#: DataCategory enum value -> stored name.
CATEGORY_NAMES: Mapping[int, str] = {
    1: "phi",
    2: "conversations",
    3: "wellness",
    4: "location",
    5: "billing",
}
CATEGORY_VALUES: Mapping[str, int] = {v: k for k, v in CATEGORY_NAMES.items()}

#: Which mesh resources (``AccessRule.resource``) a consented category opens. The rbac
#: ``consented_access`` scope asks ``has_consent(resident, grantee, resource)``, so the
#: mesh's consent view holds these resource names as well as the category names.
CATEGORY_RESOURCES: Mapping[str, frozenset[str]] = {
    "phi": frozenset({"phi"}),
    "conversations": frozenset({"conversations", "memories", "voice"}),
    "wellness": frozenset({"wellness"}),
    "location": frozenset({"location"}),
    "billing": frozenset({"billing"}),
}

MAX_PURPOSE = 1000
MAX_REASON = 1000


@dataclass(frozen=True, slots=True)
class Grant:
    consent_id: str
    resident_id: str
    grantee_id: str
    category: str
    granted_by: str
    grantor_kind: str  # "resident" | "guardian"
    purpose: str
    status: str  # "active" | "revoked" | "expired" | "superseded"
    granted_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str = ""
    superseded_by: str = ""

    def to_json(self) -> dict[str, Any]:
        def t(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "consent_id": self.consent_id,
            "resident_id": self.resident_id,
            "grantee_id": self.grantee_id,
            "category": self.category,
            "granted_by": self.granted_by,
            "grantor_kind": self.grantor_kind,
            "purpose": self.purpose,
            "status": self.status,
            "granted_at": t(self.granted_at),
            "expires_at": t(self.expires_at),
            "revoked_at": t(self.revoked_at),
            "revoked_by": self.revoked_by,
            "superseded_by": self.superseded_by,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Grant:
        def t(v: Any) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        granted_at = t(d["granted_at"])
        assert granted_at is not None
        return cls(
            consent_id=d["consent_id"],
            resident_id=d["resident_id"],
            grantee_id=d["grantee_id"],
            category=d["category"],
            granted_by=d["granted_by"],
            grantor_kind=d["grantor_kind"],
            purpose=d["purpose"],
            status=d["status"],
            granted_at=granted_at,
            expires_at=t(d.get("expires_at")),
            revoked_at=t(d.get("revoked_at")),
            revoked_by=d.get("revoked_by", ""),
            superseded_by=d.get("superseded_by", ""),
        )


def effective(grant: Grant, now: datetime) -> Grant:
    """The grant as it stands at ``now``: an active grant past its expiry is expired,
    whether or not the store has written that down yet."""
    if grant.status == "active" and grant.expires_at is not None and grant.expires_at <= now:
        return replace(grant, status="expired")
    return grant


def grantor_kind(principal: Principal | None, resident_id: str) -> str:
    """In which capacity ``principal`` may grant or revoke consent for ``resident_id``.

    The resident themselves; or a guardian, which the identity model expresses as a
    family relation at consent level ``full``. Everyone else (including admins, who
    pass RBAC organisation-wide) is refused: consent is the resident's to give.
    """
    if principal is None or principal.is_service:
        raise PermissionDenied("consent is given by the resident or a guardian, not a service")
    if principal.subject == resident_id:
        return "resident"
    for rel in principal.relations_to(resident_id):
        if rel.relationship is Relationship.FAMILY and rel.consent_level is ConsentLevel.FULL:
            return "guardian"
    raise PermissionDenied("only the resident or a guardian may change the resident's consent")


def validate_grant(
    *,
    resident_id: str,
    grantee_id: str,
    category: int,
    purpose: str,
    expires_at: datetime | None,
    now: datetime,
) -> str:
    """Check a GrantConsentRequest; return the category name."""
    if not resident_id:
        raise InvalidArgument("resident_id is required")
    if not grantee_id:
        raise InvalidArgument("grantee_id is required")
    if grantee_id == resident_id:
        raise InvalidArgument("grantee_id must be someone other than the resident")
    name = CATEGORY_NAMES.get(category)
    if name is None:
        raise InvalidArgument("data_category must be set to a known DataCategory")
    if len(purpose) > MAX_PURPOSE:
        raise InvalidArgument(f"purpose is longer than {MAX_PURPOSE} characters")
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument("expires_at must be in the future")
    return name


def covered_resources(categories: Iterable[str]) -> frozenset[str]:
    """Category names plus the mesh resources they open."""
    out: set[str] = set()
    for c in categories:
        out.add(c)
        out |= CATEGORY_RESOURCES.get(c, frozenset())
    return frozenset(out)
