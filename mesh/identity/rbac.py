"""Role-based, relation-scoped authorisation: the decision the mesh makes on every call.

``authorize`` is pure: the principal, the rpc's ``AccessRule``, the resident the call is
about, a consent view and ``now`` go in; a :class:`Decision` comes out. It never raises
for a denial (call ``Decision.raise_if_denied``), so the caller can audit every outcome.

Order of evaluation (first match wins, deny by default):

1. no rule / empty rule                -> NO_RULE
2. ``rule.public``                     -> PUBLIC (no principal needed)
3. no principal                        -> UNAUTHENTICATED
4. unknown resource / action           -> UNKNOWN_RESOURCE / UNKNOWN_ACTION
5. service principal (mTLS)            -> TRUSTED_SERVICE iff (resource, action) is in its
                                          row of the trusted-caller table; roles are ignored
6. MFA role without ``mfa``            -> MFA_REQUIRED (only ``auth`` calls pass, to finish MFA)
7. no permission for (resource,action) -> NO_PERMISSION
8. rule names a resident field but none was given -> RESIDENT_REQUIRED
9. scopes checked against the resident; ``emergency`` (break-glass) only after every
   ordinary scope failed, so ``break_glass`` is True only when the grant was needed.

Scopes (``Scope``), for a call about resident R by user U:

* ``all``: R is in U's organisation (``resident_org`` must be given and equal).
* ``own``: R is U.
* ``assigned_patients``: U has a provider or caregiver relation to R.
* ``family_members``: U has a family relation to R; an ``emergency_only`` relation only
  reaches the emergency resources (alerts).
* ``consented_access``: U has a family relation to R whose level is ``full`` (or
  ``limited`` and the call is not PHI; alerts at any level) AND the live consent view says R
  consents to U for this resource (token claims are a snapshot; withdrawal must bite now).
* ``own_actions``: rows U made (audit logs); allowed with ``actor_filter`` set.
* ``emergency``: U holds a break-glass grant for R that is active at ``now``.

Calls without a resident (list/watch rpcs) are allowed with ``visible_residents`` set to
the residents the scopes reach (``None`` means org-wide); the service must filter by it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from mesh.identity.errors import PermissionDenied
from mesh.identity.principal import ConsentLevel, Principal, Relationship, Role

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY",
    "DEFAULT_TRUSTED_CALLERS",
    "EMERGENCY_RESOURCES",
    "RESOURCES",
    "ROLE_PERMISSIONS",
    "AccessRuleLike",
    "ConsentView",
    "Decision",
    "NoConsent",
    "Permission",
    "Policy",
    "Reason",
    "Rule",
    "Scope",
    "authorize",
    "permission_table_markdown",
    "permissions_for",
    "requires_mfa",
    "scopes_for",
]


class Scope(StrEnum):
    ALL = "all"
    OWN = "own"
    ASSIGNED_PATIENTS = "assigned_patients"
    FAMILY_MEMBERS = "family_members"
    CONSENTED_ACCESS = "consented_access"
    OWN_ACTIONS = "own_actions"
    EMERGENCY = "emergency"


class Reason(StrEnum):
    # allowed
    PUBLIC = "public"
    TRUSTED_SERVICE = "trusted_service"
    PERMITTED = "permitted"
    BREAK_GLASS = "break_glass"
    # denied
    NO_RULE = "no_rule"
    UNAUTHENTICATED = "unauthenticated"
    UNKNOWN_RESOURCE = "unknown_resource"
    UNKNOWN_ACTION = "unknown_action"
    SERVICE_NOT_TRUSTED = "service_not_trusted"
    MFA_REQUIRED = "mfa_required"
    NO_PERMISSION = "no_permission"
    RESIDENT_REQUIRED = "resident_required"
    OUT_OF_SCOPE = "out_of_scope"
    CONSENT_REQUIRED = "consent_required"
    CROSS_ORGANIZATION = "cross_organization"
    BREAK_GLASS_EXPIRED = "break_glass_expired"


RESOURCES: frozenset[str] = frozenset(
    {
        "phi",
        "alerts",
        "conversations",
        "content",
        "safety",
        "audit_logs",
        "consent",
        "emergency_access",
        "users",
        "auth",
        "mesh",
        "metrics",
        "voice",
        "relationships",
        "subscriptions",
        "billing",
        "tasks",
        "memories",
        "echo",
    }
)
#: The verbs the contracts' AccessRules use; tests/contracts checks every rpc against them.
ACTIONS: frozenset[str] = frozenset(
    {
        "read", "write", "submit", "analyze", "manage", "request",
        "verify", "check", "create", "read_self", "logout", "enroll_mfa",
        "review", "revoke", "stream", "call",
    }
)  # fmt: skip
#: Resources every family consent level reaches: being told about a crisis is the point of
#: ``emergency_only`` consent.
EMERGENCY_RESOURCES: frozenset[str] = frozenset({"alerts"})


@dataclass(frozen=True, slots=True, order=True)
class Permission:
    resource: str
    action: str
    scope: Scope


def _p(resource: str, scope: Scope, *actions: str) -> list[Permission]:
    return [Permission(resource, action, scope) for action in actions]


_A, _O, _ASG = Scope.ALL, Scope.OWN, Scope.ASSIGNED_PATIENTS
_FAM, _CON, _ACT, _EM = (
    Scope.FAMILY_MEMBERS,
    Scope.CONSENTED_ACCESS,
    Scope.OWN_ACTIONS,
    Scope.EMERGENCY,
)

# The seed's rows (health_provider phi/conversations/audit_logs, family_member
# conversations/phi) are kept verbatim; the rest completes the table by minimum necessary.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.SYSTEM: frozenset(
        [
            *_p("mesh", _A, "read", "write", "manage"),
            *_p("metrics", _A, "read", "write"),
            *_p("echo", _A, "call"),
            *_p("audit_logs", _A, "verify"),
            *_p("auth", _A, "verify", "logout", "enroll_mfa"),
            *_p("users", _A, "create", "read_self"),
            *_p("relationships", _A, "check"),
            *_p("consent", _A, "check"),
            *_p("tasks", _A, "read", "write", "manage"),
            *_p("auth", _A, "manage"),
            *_p("users", _A, "read", "write", "manage"),
            *_p("audit_logs", _A, "read"),
            *_p("safety", _A, "analyze"),
            *_p("content", _A, "submit"),
            *_p("alerts", _A, "write"),
            *_p("billing", _A, "read"),
            *_p("subscriptions", _A, "read"),
            *_p("emergency_access", _A, "request"),
            *_p("alerts", _EM, "read"),
            *_p("phi", _EM, "read"),
        ]
    ),
    Role.ADMIN: frozenset(
        [
            *_p("users", _A, "read", "write", "manage", "create", "read_self"),
            *_p("auth", _A, "manage", "logout", "enroll_mfa"),
            *_p("echo", _A, "call"),
            *_p("audit_logs", _A, "verify"),
            *_p("relationships", _A, "check"),
            *_p("consent", _A, "check"),
            *_p("emergency_access", _A, "review", "revoke"),
            *_p("relationships", _A, "read", "write", "manage"),
            *_p("consent", _A, "read", "write"),
            *_p("subscriptions", _A, "read", "write", "manage"),
            *_p("billing", _A, "read", "write", "manage"),
            *_p("audit_logs", _A, "read"),
            *_p("mesh", _A, "read"),
            *_p("metrics", _A, "read"),
            *_p("tasks", _A, "read", "manage"),
            *_p("emergency_access", _A, "request", "read", "manage"),
            # Organisation-wide, but PHI only through an active break-glass grant.
            *_p("phi", _EM, "read"),
            *_p("alerts", _EM, "read", "write"),
            *_p("conversations", _EM, "read"),
            *_p("memories", _EM, "read"),
        ]
    ),
    Role.HEALTH_PROVIDER: frozenset(
        [
            *_p("phi", _ASG, "read", "write"),
            *_p("conversations", _ASG, "read"),
            *_p("audit_logs", _ACT, "read"),
            *_p("alerts", _ASG, "read", "write"),
            *_p("memories", _ASG, "read"),
            *_p("voice", _ASG, "stream"),
            *_p("content", _ASG, "submit"),
            *_p("safety", _A, "analyze"),
            *_p("consent", _ASG, "read", "check"),
            *_p("conversations", _ASG, "write"),
            *_p("emergency_access", _O, "revoke"),
            *_p("relationships", _ASG, "read"),
            *_p("tasks", _ASG, "read", "write"),
            *_p("emergency_access", _A, "request"),
            *_p("emergency_access", _O, "read"),
            *_p("phi", _EM, "read", "write"),
            *_p("alerts", _EM, "read", "write"),
            *_p("conversations", _EM, "read"),
            *_p("memories", _EM, "read"),
            *_p("users", _O, "read", "write", "read_self"),
            *_p("auth", _O, "manage", "logout", "enroll_mfa"),
        ]
    ),
    Role.CARE_STAFF: frozenset(
        [
            *_p("alerts", _ASG, "read", "write"),
            *_p("phi", _ASG, "read"),
            *_p("tasks", _ASG, "read", "write"),
            *_p("content", _ASG, "submit"),
            *_p("safety", _A, "analyze"),
            *_p("memories", _ASG, "read"),
            *_p("voice", _ASG, "stream"),
            *_p("conversations", _ASG, "write"),
            *_p("relationships", _ASG, "read"),
            *_p("consent", _ASG, "read", "check"),
            *_p("audit_logs", _ACT, "read"),
            *_p("emergency_access", _A, "request"),
            *_p("emergency_access", _O, "read"),
            *_p("alerts", _EM, "read", "write"),
            *_p("phi", _EM, "read"),
            *_p("users", _O, "read", "write", "read_self"),
            *_p("auth", _O, "manage", "logout", "enroll_mfa"),
        ]
    ),
    Role.FAMILY_MEMBER: frozenset(
        [
            *_p("conversations", _FAM, "read"),
            *_p("phi", _CON, "read"),
            *_p("memories", _CON, "read", "write"),
            *_p("voice", _CON, "stream"),
            *_p("conversations", _FAM, "write"),
            # Their chat messages are screened on their behalf (crisis -> safety).
            *_p("content", _FAM, "submit"),
            *_p("safety", _A, "analyze"),
            *_p("relationships", _FAM, "read"),
            *_p("consent", _FAM, "read"),
            *_p("subscriptions", _O, "read", "write"),
            *_p("billing", _O, "read", "write"),
            *_p("audit_logs", _ACT, "read"),
            *_p("users", _O, "read", "write", "read_self"),
            *_p("auth", _O, "manage", "logout", "enroll_mfa"),
        ]
    ),
    Role.RESIDENT: frozenset(
        [
            *_p("phi", _O, "read"),
            *_p("conversations", _O, "read", "write"),
            *_p("memories", _O, "read", "write"),
            *_p("voice", _O, "stream"),
            *_p("content", _O, "submit"),
            # Screening a resident's own words analyses text only, never records.
            *_p("safety", _A, "analyze"),
            # The "I need help" button raises an alert about oneself.
            *_p("alerts", _O, "write"),
            *_p("consent", _O, "read", "write"),
            *_p("relationships", _O, "read"),
            *_p("subscriptions", _O, "read"),
            *_p("billing", _O, "read"),
            *_p("tasks", _O, "read"),
            # HIPAA accounting of disclosures: who touched my records.
            *_p("audit_logs", _O, "read"),
            *_p("users", _O, "read", "write", "read_self"),
            *_p("auth", _O, "manage", "logout", "enroll_mfa"),
        ]
    ),
}

_MESH_MEMBER = frozenset(
    {("mesh", "read"), ("mesh", "write"), ("audit_logs", "write"), ("metrics", "write")}
)

#: Service name (from the mTLS certificate) -> (resource, action) pairs it may call.
#: Every listed service may register with discovery, write audit records and report its
#: metrics (``MetricsService.ReportMetrics`` is ``metrics.write``). Keys are the names the
#: services run as (``mesh.runner.run(name, ...)``), which their certificates must carry.
#: A name without a row (the REST gateway, meshctl) is no service principal at all.
DEFAULT_TRUSTED_CALLERS: Mapping[str, frozenset[tuple[str, str]]] = {
    "crisis": _MESH_MEMBER
    | {("safety", "analyze"), ("consent", "read"), ("relationships", "read"), ("tasks", "write")},
    "safety": _MESH_MEMBER,
    "discovery": _MESH_MEMBER,
    "audit": _MESH_MEMBER,
    "auth": _MESH_MEMBER
    | {("relationships", "read"), ("relationships", "check"), ("emergency_access", "read")},
    "consent": _MESH_MEMBER | {("relationships", "read")},
    "emergency_access": _MESH_MEMBER | {("relationships", "read"), ("alerts", "write")},
    "relationships": _MESH_MEMBER,
    "tasks": _MESH_MEMBER | {("alerts", "write"), ("content", "submit")},
    "chat": _MESH_MEMBER | {("content", "submit"), ("safety", "analyze")},
    "voice": _MESH_MEMBER | {("content", "submit"), ("safety", "analyze"), ("alerts", "write")},
    "billing": _MESH_MEMBER | {("subscriptions", "read")},
    "subscription": _MESH_MEMBER | {("billing", "write")},
    "memory": _MESH_MEMBER,
    "echo": _MESH_MEMBER,
    # Prometheus scraper and the mesh control plane.
    "metrics": frozenset({("metrics", "read"), ("mesh", "read")}),
}


class AccessRuleLike(Protocol):
    """What ``authorize`` reads from ``lilo.options.v1.AccessRule`` (the pb2 message fits)."""

    @property
    def resource(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def public(self) -> bool: ...

    @property
    def phi(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """Plain-Python AccessRule for tests and hand-written routes."""

    resource: str
    action: str
    public: bool = False
    phi: bool = False
    resident_field: str = ""


class ConsentView(Protocol):
    """Live consent lookup; the caller supplies a snapshot or cached view (sync on purpose:
    ``authorize`` stays pure and the interceptor fetches consent before calling it)."""

    def has_consent(self, resident_id: str, grantee_id: str, category: str) -> bool: ...


class NoConsent:
    """A consent view that has no consent records (for calls that cannot need it)."""

    def has_consent(self, resident_id: str, grantee_id: str, category: str) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Policy:
    role_permissions: Mapping[Role, frozenset[Permission]] = field(
        default_factory=lambda: ROLE_PERMISSIONS
    )
    trusted_callers: Mapping[str, frozenset[tuple[str, str]]] = field(
        default_factory=lambda: DEFAULT_TRUSTED_CALLERS
    )
    emergency_resources: frozenset[str] = EMERGENCY_RESOURCES


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome. ``visible_residents`` (list calls) restricts results; ``None`` = no
    per-resident restriction within the organisation. ``actor_filter`` (own_actions)
    restricts rows to those the subject made. ``grant_ids`` are the break-glass grants used,
    which the audit record must name."""

    allowed: bool
    reason: Reason
    scope: Scope | None = None
    break_glass: bool = False
    grant_ids: tuple[str, ...] = ()
    visible_residents: frozenset[str] | None = None
    actor_filter: str | None = None
    detail: str = ""

    def raise_if_denied(self) -> None:
        if not self.allowed:
            raise PermissionDenied(self.reason.value, self.detail)


def _deny(reason: Reason, detail: str = "") -> Decision:
    return Decision(allowed=False, reason=reason, detail=detail)


def requires_mfa(role: Role) -> bool:
    """Roles that touch many residents' data must prove a second factor."""
    return role in {Role.SYSTEM, Role.ADMIN, Role.HEALTH_PROVIDER, Role.CARE_STAFF}


def permissions_for(role: Role, policy: Policy = DEFAULT_POLICY) -> frozenset[Permission]:
    return policy.role_permissions.get(role, frozenset())


def scopes_for(
    role: Role, resource: str, action: str, policy: Policy = DEFAULT_POLICY
) -> frozenset[Scope]:
    """The scopes under which ``role`` may do ``action`` on ``resource`` (empty: none).

    Tells a caller which live facts ``authorize`` can consult: consent only under
    ``consented_access``, the resident's organisation only under ``all``, break-glass
    grants only under ``emergency`` (and only once every ordinary scope failed).
    """
    return frozenset(
        p.scope
        for p in permissions_for(role, policy)
        if p.resource == resource and p.action == action
    )


# Preference among ordinary scopes when several apply; emergency is handled separately.
_SCOPE_ORDER = (
    Scope.ALL,
    Scope.OWN,
    Scope.ASSIGNED_PATIENTS,
    Scope.FAMILY_MEMBERS,
    Scope.CONSENTED_ACCESS,
    Scope.OWN_ACTIONS,
)
# When several scopes fail, report the most telling reason.
_DENIAL_RANK = (
    Reason.CONSENT_REQUIRED,
    Reason.CROSS_ORGANIZATION,
    Reason.OUT_OF_SCOPE,
)


def _family_level_allows(level: ConsentLevel, resource: str, phi: bool, policy: Policy) -> bool:
    if resource in policy.emergency_resources or level is ConsentLevel.FULL:
        return True
    return level is ConsentLevel.LIMITED and not phi


def _scope_check(
    scope: Scope,
    principal: Principal,
    resident_id: str,
    resource: str,
    phi: bool,
    consent: ConsentView,
    resident_org: str | None,
    policy: Policy,
) -> Reason | None:
    """None if ``scope`` covers ``resident_id``, else the reason it does not."""
    if scope is Scope.ALL:
        if resident_org is None or resident_org != principal.organization_id:
            return Reason.CROSS_ORGANIZATION
        return None
    if scope is Scope.OWN:
        return None if resident_id == principal.subject else Reason.OUT_OF_SCOPE
    if scope is Scope.OWN_ACTIONS:
        return None  # restricted by actor_filter, not by resident
    relations = principal.relations_to(resident_id)
    if scope is Scope.ASSIGNED_PATIENTS:
        ok = any(
            r.relationship in (Relationship.PROVIDER, Relationship.CAREGIVER) for r in relations
        )
        return None if ok else Reason.OUT_OF_SCOPE
    family = [r for r in relations if r.relationship is Relationship.FAMILY]
    if scope is Scope.FAMILY_MEMBERS:
        ok = any(
            r.consent_level is not ConsentLevel.EMERGENCY_ONLY
            or resource in policy.emergency_resources
            for r in family
        )
        return None if ok else Reason.OUT_OF_SCOPE
    if scope is Scope.CONSENTED_ACCESS:
        if not family:
            return Reason.OUT_OF_SCOPE
        if not any(_family_level_allows(r.consent_level, resource, phi, policy) for r in family):
            return Reason.CONSENT_REQUIRED
        if not consent.has_consent(resident_id, principal.subject, resource):
            return Reason.CONSENT_REQUIRED
        return None
    return Reason.OUT_OF_SCOPE  # EMERGENCY is never an ordinary scope


def _reachable(
    scope: Scope,
    principal: Principal,
    resource: str,
    phi: bool,
    consent: ConsentView,
    policy: Policy,
) -> set[str]:
    """Residents ``scope`` reaches, for calls that name no resident."""
    if scope is Scope.OWN:
        return {principal.subject}
    candidates = {r.patient_id for r in principal.relations}
    return {
        rid
        for rid in candidates
        if _scope_check(scope, principal, rid, resource, phi, consent, None, policy) is None
    }


def authorize(
    principal: Principal | None,
    rule: AccessRuleLike | None,
    resident_id: str | None,
    consent: ConsentView,
    now: float,
    *,
    resident_org: str | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> Decision:
    """Decide one call. ``resident_org`` is the organisation of ``resident_id`` (needed for
    ``all``-scoped access to a resident: unknown means denied)."""
    if rule is None or (not rule.public and not rule.resource):
        return _deny(Reason.NO_RULE, "rpc declares no access rule")
    if rule.public:
        return Decision(allowed=True, reason=Reason.PUBLIC)
    if principal is None:
        return _deny(Reason.UNAUTHENTICATED)
    resource, action = rule.resource, rule.action
    if resource not in RESOURCES:
        return _deny(Reason.UNKNOWN_RESOURCE, resource)
    if action not in ACTIONS:
        return _deny(Reason.UNKNOWN_ACTION, action)

    if principal.is_service:
        allowed = policy.trusted_callers.get(principal.subject, frozenset())
        if (resource, action) in allowed:
            return Decision(allowed=True, reason=Reason.TRUSTED_SERVICE, scope=Scope.ALL)
        return _deny(Reason.SERVICE_NOT_TRUSTED, f"{principal.subject} -> {resource}.{action}")

    if requires_mfa(principal.role) and not principal.mfa and resource != "auth":
        return _deny(Reason.MFA_REQUIRED, principal.role.value)

    scopes = scopes_for(principal.role, resource, action, policy)
    if not scopes:
        return _deny(Reason.NO_PERMISSION, f"{principal.role}: {resource}.{action}")

    phi = bool(rule.phi) or resource == "phi"
    if getattr(rule, "resident_field", "") and not resident_id:
        return _deny(Reason.RESIDENT_REQUIRED, str(getattr(rule, "resident_field", "")))

    if resident_id:
        return _decide_for_resident(
            principal, scopes, resident_id, resource, phi, consent, now, resident_org, policy
        )
    return _decide_unscoped(principal, scopes, resource, phi, consent, now, policy)


def _decide_for_resident(
    principal: Principal,
    scopes: frozenset[Scope],
    resident_id: str,
    resource: str,
    phi: bool,
    consent: ConsentView,
    now: float,
    resident_org: str | None,
    policy: Policy,
) -> Decision:
    failures: list[Reason] = []
    for scope in _SCOPE_ORDER:
        if scope not in scopes:
            continue
        failure = _scope_check(
            scope, principal, resident_id, resource, phi, consent, resident_org, policy
        )
        if failure is None:
            return Decision(
                allowed=True,
                reason=Reason.PERMITTED,
                scope=scope,
                actor_filter=principal.subject if scope is Scope.OWN_ACTIONS else None,
            )
        failures.append(failure)
    if Scope.EMERGENCY in scopes:
        grant = principal.active_grant(resident_id, now)
        if grant is not None:
            return Decision(
                allowed=True,
                reason=Reason.BREAK_GLASS,
                scope=Scope.EMERGENCY,
                break_glass=True,
                grant_ids=(grant.grant_id,),
            )
        if any(g.patient_id == resident_id for g in principal.break_glass):
            return _deny(Reason.BREAK_GLASS_EXPIRED, resident_id)
        failures.append(Reason.OUT_OF_SCOPE)
    reason = next((r for r in _DENIAL_RANK if r in failures), Reason.OUT_OF_SCOPE)
    return _deny(reason, resident_id)


def _decide_unscoped(
    principal: Principal,
    scopes: frozenset[Scope],
    resource: str,
    phi: bool,
    consent: ConsentView,
    now: float,
    policy: Policy,
) -> Decision:
    if Scope.ALL in scopes:
        return Decision(allowed=True, reason=Reason.PERMITTED, scope=Scope.ALL)
    if Scope.OWN_ACTIONS in scopes:
        return Decision(
            allowed=True,
            reason=Reason.PERMITTED,
            scope=Scope.OWN_ACTIONS,
            actor_filter=principal.subject,
        )
    visible: set[str] = set()
    matched: Scope | None = None
    for scope in _SCOPE_ORDER:
        if scope in scopes:
            reach = _reachable(scope, principal, resource, phi, consent, policy)
            if reach and matched is None:
                matched = scope
            visible |= reach
    grant_ids: tuple[str, ...] = ()
    if Scope.EMERGENCY in scopes:
        grants = [g for g in principal.break_glass if g.active(now) and g.patient_id not in visible]
        if grants:
            visible |= {g.patient_id for g in grants}
            grant_ids = tuple(g.grant_id for g in grants)
            matched = matched or Scope.EMERGENCY
    if not visible or matched is None:
        return _deny(Reason.OUT_OF_SCOPE, "no resident reachable")
    return Decision(
        allowed=True,
        reason=Reason.BREAK_GLASS if matched is Scope.EMERGENCY else Reason.PERMITTED,
        scope=matched,
        break_glass=bool(grant_ids),
        grant_ids=grant_ids,
        visible_residents=frozenset(visible),
    )


def permission_table_markdown(
    roles: Iterable[Role] = tuple(Role), policy: Policy = DEFAULT_POLICY
) -> str:
    """The permission table as Markdown (docs/identity.md embeds this exact text)."""
    lines = ["| role | resource | actions | scope |", "|---|---|---|---|"]
    for role in roles:
        grouped: dict[tuple[str, Scope], list[str]] = {}
        for perm in sorted(permissions_for(role, policy)):
            grouped.setdefault((perm.resource, perm.scope), []).append(perm.action)
        for (resource, scope), actions in sorted(grouped.items()):
            lines.append(f"| {role} | {resource} | {', '.join(sorted(actions))} | {scope} |")
    return "\n".join(lines) + "\n"
