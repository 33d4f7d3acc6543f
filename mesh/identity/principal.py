"""The one typed principal the mesh passes around, for users (JWT) and services (mTLS).

A :class:`Principal` is a value: it is built once per call by the authentication step
(from a verified access token or from the peer certificate) and never mutated. Everything
``rbac.authorize`` needs to decide is in it, except live consent, which is looked up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "BreakGlassGrant",
    "ConsentLevel",
    "PatientRelation",
    "Principal",
    "PrincipalKind",
    "Relationship",
    "Role",
]


class Role(StrEnum):
    """Healthcare roles, from most to least privileged in platform terms."""

    SYSTEM = "system"
    ADMIN = "admin"
    HEALTH_PROVIDER = "health_provider"
    CARE_STAFF = "care_staff"
    FAMILY_MEMBER = "family_member"
    RESIDENT = "resident"


class Relationship(StrEnum):
    """How a user relates to a resident (patient)."""

    FAMILY = "family"
    PROVIDER = "provider"
    CAREGIVER = "caregiver"


class ConsentLevel(StrEnum):
    """What the resident agreed to share along a relation.

    ``full``: everything the role allows; ``limited``: non-PHI calls (plus alerts);
    ``emergency_only``: alerts only. Live consent (``rbac.ConsentView``) is checked on top.
    """

    FULL = "full"
    LIMITED = "limited"
    EMERGENCY_ONLY = "emergency_only"


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class PatientRelation:
    """A relation from the principal to one resident, as recorded by relationship management."""

    patient_id: str
    relationship: Relationship
    consent_level: ConsentLevel

    def __post_init__(self) -> None:
        if not self.patient_id:
            raise ValueError("PatientRelation.patient_id must not be empty")
        # Accept raw strings from claims, but store the enum so comparisons are exact.
        object.__setattr__(self, "relationship", Relationship(self.relationship))
        object.__setattr__(self, "consent_level", ConsentLevel(self.consent_level))


@dataclass(frozen=True, slots=True)
class BreakGlassGrant:
    """An emergency-access grant for one resident, valid while ``now < expires_at``.

    Granted by the emergency-access service (reason recorded and audited there); the mesh
    only checks presence and expiry with the injected clock.
    """

    patient_id: str
    expires_at: float
    grant_id: str = ""

    def active(self, now: float) -> bool:
        return now < self.expires_at


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling.

    ``subject`` is the user id (``kind=user``) or the service name from the certificate
    (``kind=service``). Service principals carry ``Role.SYSTEM`` but are authorised by the
    trusted-caller table, never by role; they have no relations or grants.
    ``mfa`` says the session proved a second factor.
    """

    subject: str
    kind: PrincipalKind
    role: Role
    organization_id: str = ""
    relations: tuple[PatientRelation, ...] = ()
    session_id: str = ""
    break_glass: tuple[BreakGlassGrant, ...] = ()
    mfa: bool = False
    _by_patient: dict[str, tuple[PatientRelation, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.subject:
            raise ValueError("Principal.subject must not be empty")
        object.__setattr__(self, "kind", PrincipalKind(self.kind))
        object.__setattr__(self, "role", Role(self.role))
        object.__setattr__(self, "relations", tuple(self.relations))
        object.__setattr__(self, "break_glass", tuple(self.break_glass))
        if self.kind is PrincipalKind.SERVICE and (
            self.role is not Role.SYSTEM or self.relations or self.break_glass
        ):
            raise ValueError("service principals have role system and no relations or grants")
        index: dict[str, tuple[PatientRelation, ...]] = {}
        for rel in self.relations:
            index[rel.patient_id] = (*index.get(rel.patient_id, ()), rel)
        object.__setattr__(self, "_by_patient", index)

    @classmethod
    def user(
        cls,
        subject: str,
        role: Role,
        *,
        organization_id: str = "",
        relations: tuple[PatientRelation, ...] = (),
        session_id: str = "",
        break_glass: tuple[BreakGlassGrant, ...] = (),
        mfa: bool = False,
    ) -> Principal:
        return cls(
            subject=subject,
            kind=PrincipalKind.USER,
            role=role,
            organization_id=organization_id,
            relations=relations,
            session_id=session_id,
            break_glass=break_glass,
            mfa=mfa,
        )

    @classmethod
    def service(cls, name: str, *, organization_id: str = "") -> Principal:
        """A mesh service identified by its mTLS certificate (name taken from its SAN)."""
        return cls(
            subject=name,
            kind=PrincipalKind.SERVICE,
            role=Role.SYSTEM,
            organization_id=organization_id,
        )

    @property
    def is_service(self) -> bool:
        return self.kind is PrincipalKind.SERVICE

    def relations_to(self, patient_id: str) -> tuple[PatientRelation, ...]:
        """Every relation to ``patient_id`` (a user may be both family and caregiver)."""
        return self._by_patient.get(patient_id, ())

    def active_grant(self, patient_id: str, now: float) -> BreakGlassGrant | None:
        """The break-glass grant for ``patient_id`` that is still active at ``now``, if any."""
        for grant in self.break_glass:
            if grant.patient_id == patient_id and grant.active(now):
                return grant
        return None

    def with_grant(self, grant: BreakGlassGrant) -> Principal:
        """A copy with one more break-glass grant (the principal itself stays unchanged)."""
        return Principal(
            subject=self.subject,
            kind=self.kind,
            role=self.role,
            organization_id=self.organization_id,
            relations=self.relations,
            session_id=self.session_id,
            break_glass=(*self.break_glass, grant),
            mfa=self.mfa,
        )
