"""authorize(): role x resource x scope, consent, break-glass, services, deny by default."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mesh.identity.errors import PermissionDenied
from mesh.identity.principal import (
    BreakGlassGrant,
    ConsentLevel,
    PatientRelation,
    Principal,
    Relationship,
    Role,
)
from mesh.identity.rbac import (
    RESOURCES,
    ROLE_PERMISSIONS,
    NoConsent,
    Permission,
    Policy,
    Reason,
    Rule,
    Scope,
    authorize,
    permission_table_markdown,
    requires_mfa,
)

NOW = 1_750_000_000.0
ORG = "org-1"


@dataclass
class Consents:
    granted: set[tuple[str, str, str]] = field(default_factory=set)

    def has_consent(self, resident_id: str, grantee_id: str, category: str) -> bool:
        return (resident_id, grantee_id, category) in self.granted


def rel(
    patient: str, kind: Relationship, level: ConsentLevel = ConsentLevel.FULL
) -> PatientRelation:
    return PatientRelation(patient, kind, level)


def user(role: Role, *relations: PatientRelation, mfa: bool = True, **kw: object) -> Principal:
    return Principal.user(
        f"u-{role}",
        role,
        organization_id=ORG,
        relations=relations,
        mfa=mfa,
        **kw,  # type: ignore[arg-type]
    )


PROVIDER = user(Role.HEALTH_PROVIDER, rel("r-1", Relationship.PROVIDER))
CARE = user(Role.CARE_STAFF, rel("r-1", Relationship.CAREGIVER))
FAMILY = user(
    Role.FAMILY_MEMBER,
    rel("r-1", Relationship.FAMILY, ConsentLevel.FULL),
    rel("r-2", Relationship.FAMILY, ConsentLevel.LIMITED),
    rel("r-3", Relationship.FAMILY, ConsentLevel.EMERGENCY_ONLY),
    mfa=False,
)
RESIDENT = Principal.user("r-1", Role.RESIDENT, organization_id=ORG)
ADMIN = user(Role.ADMIN)
SYSTEM = user(Role.SYSTEM)

PHI_READ = Rule("phi", "read", phi=True)
PHI_WRITE = Rule("phi", "write", phi=True)
CONV_READ = Rule("conversations", "read", phi=True)
ALERTS_READ = Rule("alerts", "read", phi=True)
ALERTS_WRITE = Rule("alerts", "write", phi=True, resident_field="resident_id")


def decide(
    p: Principal | None,
    rule: Rule | None,
    resident: str | None,
    consent: object = None,
    now: float = NOW,
    **kw: object,
):  # type: ignore[no-untyped-def]
    return authorize(p, rule, resident, consent or NoConsent(), now, **kw)  # type: ignore[arg-type]


# --- the seed's own table ---------------------------------------------------------------


def test_seed_rows_are_in_the_table() -> None:
    hp = ROLE_PERMISSIONS[Role.HEALTH_PROVIDER]
    for perm in [
        Permission("phi", "read", Scope.ASSIGNED_PATIENTS),
        Permission("phi", "write", Scope.ASSIGNED_PATIENTS),
        Permission("conversations", "read", Scope.ASSIGNED_PATIENTS),
        Permission("audit_logs", "read", Scope.OWN_ACTIONS),
    ]:
        assert perm in hp
    fm = ROLE_PERMISSIONS[Role.FAMILY_MEMBER]
    assert Permission("conversations", "read", Scope.FAMILY_MEMBERS) in fm
    assert Permission("phi", "read", Scope.CONSENTED_ACCESS) in fm


def test_every_role_has_a_row_and_only_known_resources() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    for perms in ROLE_PERMISSIONS.values():
        assert perms and {p.resource for p in perms} <= RESOURCES


@pytest.mark.parametrize(
    ("principal", "rule", "resident", "allowed", "reason"),
    [
        # health provider: assigned patient yes, others no
        (PROVIDER, PHI_READ, "r-1", True, Reason.PERMITTED),
        (PROVIDER, PHI_WRITE, "r-1", True, Reason.PERMITTED),
        (PROVIDER, PHI_READ, "r-2", False, Reason.OUT_OF_SCOPE),
        (PROVIDER, CONV_READ, "r-1", True, Reason.PERMITTED),
        (PROVIDER, CONV_READ, "r-2", False, Reason.OUT_OF_SCOPE),
        (PROVIDER, Rule("billing", "read"), None, False, Reason.NO_PERMISSION),
        # care staff: alerts for assigned residents, phi read but not write
        (CARE, ALERTS_READ, "r-1", True, Reason.PERMITTED),
        (CARE, ALERTS_WRITE, "r-1", True, Reason.PERMITTED),
        (CARE, ALERTS_READ, "r-2", False, Reason.OUT_OF_SCOPE),
        (CARE, PHI_READ, "r-1", True, Reason.PERMITTED),
        (CARE, PHI_WRITE, "r-1", False, Reason.NO_PERMISSION),
        (CARE, CONV_READ, "r-1", False, Reason.NO_PERMISSION),
        # family: conversations of a family member (any non-emergency level); phi needs consent
        (FAMILY, CONV_READ, "r-1", True, Reason.PERMITTED),
        (FAMILY, CONV_READ, "r-2", True, Reason.PERMITTED),
        (FAMILY, CONV_READ, "r-3", False, Reason.OUT_OF_SCOPE),
        (FAMILY, CONV_READ, "r-9", False, Reason.OUT_OF_SCOPE),
        (FAMILY, PHI_READ, "r-1", False, Reason.CONSENT_REQUIRED),
        # Issue 4: only care staff, providers and admins see alerts.
        (FAMILY, ALERTS_READ, "r-3", False, Reason.NO_PERMISSION),
        (FAMILY, PHI_WRITE, "r-1", False, Reason.NO_PERMISSION),
        # resident: own data only
        (RESIDENT, PHI_READ, "r-1", True, Reason.PERMITTED),
        (RESIDENT, PHI_READ, "r-2", False, Reason.OUT_OF_SCOPE),
        (RESIDENT, CONV_READ, "r-1", True, Reason.PERMITTED),
        (RESIDENT, ALERTS_WRITE, "r-1", True, Reason.PERMITTED),
        (RESIDENT, ALERTS_READ, "r-1", False, Reason.NO_PERMISSION),
        # admin: organisation-wide management, no PHI without break-glass
        (ADMIN, PHI_READ, "r-1", False, Reason.OUT_OF_SCOPE),
        (ADMIN, CONV_READ, "r-1", False, Reason.OUT_OF_SCOPE),
        (ADMIN, PHI_WRITE, "r-1", False, Reason.NO_PERMISSION),
        (ADMIN, Rule("users", "manage"), None, True, Reason.PERMITTED),
        (ADMIN, Rule("audit_logs", "read"), None, True, Reason.PERMITTED),
        # system role (a user token): operations, not care
        (SYSTEM, Rule("mesh", "manage"), None, True, Reason.PERMITTED),
        (SYSTEM, PHI_READ, "r-1", False, Reason.OUT_OF_SCOPE),
    ],
)
def test_matrix(
    principal: Principal, rule: Rule, resident: str | None, allowed: bool, reason: Reason
) -> None:
    d = decide(principal, rule, resident)
    assert (d.allowed, d.reason) == (allowed, reason)
    assert not d.break_glass
    if not allowed:
        with pytest.raises(PermissionDenied) as exc:
            d.raise_if_denied()
        assert exc.value.reason == reason.value


def test_family_phi_with_live_consent() -> None:
    consent = Consents({("r-1", FAMILY.subject, "phi"), ("r-2", FAMILY.subject, "phi")})
    assert decide(FAMILY, PHI_READ, "r-1", consent).allowed
    # limited consent level never reaches PHI, even with a consent record
    assert decide(FAMILY, PHI_READ, "r-2", consent).reason is Reason.CONSENT_REQUIRED
    # consent for another category does not count
    other = Consents({("r-1", FAMILY.subject, "memories")})
    assert decide(FAMILY, PHI_READ, "r-1", other).reason is Reason.CONSENT_REQUIRED
    # limited level reaches non-PHI consented calls
    mem = Rule("memories", "read", phi=False)
    assert decide(FAMILY, mem, "r-2", Consents({("r-2", FAMILY.subject, "memories")})).allowed
    assert not decide(FAMILY, mem, "r-2", NoConsent()).allowed


def test_consented_access_needs_a_family_relation() -> None:
    caregiver_as_family_role = user(Role.FAMILY_MEMBER, rel("r-1", Relationship.CAREGIVER))
    consent = Consents({("r-1", caregiver_as_family_role.subject, "phi")})
    d = decide(caregiver_as_family_role, PHI_READ, "r-1", consent)
    assert (d.allowed, d.reason) == (False, Reason.OUT_OF_SCOPE)


# --- organisation-wide scope ------------------------------------------------------------


def test_all_scope_checks_the_residents_organisation() -> None:
    rule = Rule("relationships", "read")
    assert decide(ADMIN, rule, "r-1", resident_org=ORG).allowed
    assert decide(ADMIN, rule, "r-1", resident_org="org-2").reason is Reason.CROSS_ORGANIZATION
    assert decide(ADMIN, rule, "r-1").reason is Reason.CROSS_ORGANIZATION  # unknown: denied


# --- break-glass ------------------------------------------------------------------------


def test_break_glass_grant_with_injected_time() -> None:
    grant = BreakGlassGrant("r-1", NOW + 300, "g-7")
    admin = ADMIN.with_grant(grant)
    d = decide(admin, PHI_READ, "r-1", now=NOW)
    assert (d.allowed, d.reason, d.break_glass, d.grant_ids) == (
        True,
        Reason.BREAK_GLASS,
        True,
        ("g-7",),
    )
    assert decide(admin, PHI_READ, "r-1", now=NOW + 299.9).allowed
    expired = decide(admin, PHI_READ, "r-1", now=NOW + 300)
    assert (expired.allowed, expired.reason) == (False, Reason.BREAK_GLASS_EXPIRED)
    # The grant is for one resident only, and never widens the role's actions.
    assert not decide(admin, PHI_READ, "r-2", now=NOW).allowed
    assert decide(admin, PHI_WRITE, "r-1", now=NOW).reason is Reason.NO_PERMISSION


def test_break_glass_only_when_needed() -> None:
    provider = PROVIDER.with_grant(BreakGlassGrant("r-1", NOW + 60, "g-1"))
    d = decide(provider, PHI_READ, "r-1")
    assert d.allowed and not d.break_glass and d.scope is Scope.ASSIGNED_PATIENTS
    provider = PROVIDER.with_grant(BreakGlassGrant("r-5", NOW + 60, "g-2"))
    d = decide(provider, PHI_READ, "r-5")
    assert d.allowed and d.break_glass and d.scope is Scope.EMERGENCY


def test_break_glass_principal_is_unchanged() -> None:
    granted = ADMIN.with_grant(BreakGlassGrant("r-1", NOW + 60))
    assert ADMIN.break_glass == () and len(granted.break_glass) == 1


# --- MFA ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "needed"),
    [
        (Role.SYSTEM, True),
        (Role.ADMIN, True),
        (Role.HEALTH_PROVIDER, True),
        (Role.CARE_STAFF, True),
        (Role.FAMILY_MEMBER, False),
        (Role.RESIDENT, False),
    ],
)
def test_requires_mfa(role: Role, needed: bool) -> None:
    assert requires_mfa(role) is needed


def test_mfa_roles_without_mfa_only_reach_auth() -> None:
    no_mfa = user(Role.HEALTH_PROVIDER, rel("r-1", Relationship.PROVIDER), mfa=False)
    assert decide(no_mfa, PHI_READ, "r-1").reason is Reason.MFA_REQUIRED
    assert decide(no_mfa, Rule("auth", "manage"), "u-health_provider").allowed
    assert decide(RESIDENT, PHI_READ, "r-1").allowed  # resident: no MFA needed


# --- deny by default ----------------------------------------------------------------------


def test_deny_by_default() -> None:
    assert decide(ADMIN, None, None).reason is Reason.NO_RULE
    assert decide(ADMIN, Rule("", ""), None).reason is Reason.NO_RULE
    assert decide(ADMIN, Rule("secrets", "read"), None).reason is Reason.UNKNOWN_RESOURCE
    assert decide(ADMIN, Rule("users", "obliterate"), None).reason is Reason.UNKNOWN_ACTION
    assert decide(None, PHI_READ, "r-1").reason is Reason.UNAUTHENTICATED
    assert decide(RESIDENT, Rule("mesh", "write"), None).reason is Reason.NO_PERMISSION
    empty = Policy(role_permissions={})
    assert decide(ADMIN, Rule("users", "read"), None, policy=empty).reason is Reason.NO_PERMISSION


def test_public_rule_needs_no_principal() -> None:
    d = decide(None, Rule("auth", "write", public=True), None)
    assert d.allowed and d.reason is Reason.PUBLIC


def test_resident_field_must_be_filled() -> None:
    assert decide(CARE, ALERTS_WRITE, None).reason is Reason.RESIDENT_REQUIRED
    assert decide(CARE, ALERTS_WRITE, "").reason is Reason.RESIDENT_REQUIRED


# --- services (mTLS) --------------------------------------------------------------------------


def test_services_use_the_trusted_caller_table_not_roles() -> None:
    crisis = Principal.service("crisis")
    d = decide(crisis, Rule("safety", "analyze"), None)
    assert d.allowed and d.reason is Reason.TRUSTED_SERVICE
    assert decide(crisis, Rule("mesh", "write"), None).allowed
    # role SYSTEM would allow this for a user; a service is not in the table for it
    assert decide(crisis, Rule("users", "manage"), None).reason is Reason.SERVICE_NOT_TRUSTED
    assert decide(crisis, PHI_READ, "r-1").reason is Reason.SERVICE_NOT_TRUSTED
    unknown = Principal.service("intruder")
    assert decide(unknown, Rule("mesh", "read"), None).reason is Reason.SERVICE_NOT_TRUSTED
    custom = Policy(trusted_callers={"intruder": frozenset({("mesh", "read")})})
    assert decide(unknown, Rule("mesh", "read"), None, policy=custom).allowed


def test_service_principal_cannot_carry_relations() -> None:
    with pytest.raises(ValueError):
        Principal(subject="crisis", kind="service", role=Role.ADMIN)  # type: ignore[arg-type]


# --- calls without a resident (list / watch) ----------------------------------------------------


def test_list_calls_narrow_to_visible_residents() -> None:
    d = decide(CARE, ALERTS_READ, None)
    assert d.allowed and d.visible_residents == frozenset({"r-1"})
    assert not decide(FAMILY, ALERTS_READ, None).allowed  # alerts are for carers only
    d = decide(FAMILY, CONV_READ, None)
    assert d.visible_residents == frozenset({"r-1", "r-2"})
    consent = Consents({("r-1", FAMILY.subject, "phi")})
    assert decide(FAMILY, PHI_READ, None, consent).visible_residents == frozenset({"r-1"})
    assert decide(ADMIN, Rule("users", "read"), None).visible_residents is None
    lonely = user(Role.CARE_STAFF)
    assert decide(lonely, ALERTS_READ, None).reason is Reason.OUT_OF_SCOPE


def test_list_calls_with_break_glass() -> None:
    admin = ADMIN.with_grant(BreakGlassGrant("r-4", NOW + 10, "g-9"))
    d = decide(admin, ALERTS_READ, None)
    assert d.allowed and d.break_glass and d.visible_residents == frozenset({"r-4"})
    assert d.grant_ids == ("g-9",)
    assert not decide(admin, ALERTS_READ, None, now=NOW + 10).allowed


def test_own_actions_sets_the_actor_filter() -> None:
    d = decide(PROVIDER, Rule("audit_logs", "read"), None)
    assert d.allowed and d.scope is Scope.OWN_ACTIONS and d.actor_filter == PROVIDER.subject
    d = decide(RESIDENT, Rule("audit_logs", "read"), None)
    assert d.scope is Scope.OWN and d.visible_residents == frozenset({"r-1"})


# --- docs stay in step with the code ---------------------------------------------------------


def test_docs_embed_the_permission_table() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "identity.md"
    assert permission_table_markdown() in doc.read_text(encoding="utf-8")
