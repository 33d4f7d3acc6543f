"""The access controller every service runs: who is calling, and may they.

Service identity comes from the mTLS certificate (its common name), user identity
from the ``authorization: Bearer <JWT>`` header; both become one
``mesh.identity.Principal``. When a trusted service forwards a user's token, the
user is the principal (the service acts on the user's behalf and gets no more
than the user has). A certificate whose name has no row in the trusted-caller
table (the REST gateway, meshctl) proves only where the connection comes from:
without a token such a call is anonymous, never a service principal.

The rpc's ``AccessRule`` from its proto, the resident named by its
``resident_field`` and live facts (consent grants, break-glass access, looked up
per call so a revocation applies to the next call) go to the pure
``mesh.identity.rbac.authorize``. Only the facts the caller's scopes for the rpc can
consult are looked up (``rbac.scopes_for``), and break-glass grants only after the
ordinary scopes failed: the decision is the same as with every fact fetched.

Denials say why in terms of the caller (``permission denied: out_of_scope``),
never whether the resource exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from google.protobuf.message import Message

from mesh.clock import Clock, SystemClock
from mesh.identity import Principal, TokenExpired, TokenInvalid
from mesh.identity.principal import BreakGlassGrant
from mesh.identity.rbac import (
    DEFAULT_POLICY,
    Decision,
    Policy,
    Reason,
    Scope,
    authorize,
    scopes_for,
)
from mesh.policy import MethodPolicy
from mesh.status import PermissionDenied, Unauthenticated


class AccessFacts(Protocol):
    """Live facts about a resident that tokens must not cache."""

    async def consent_categories(self, resident_id: str, grantee_id: str) -> frozenset[str]:
        """Data categories ``grantee_id`` currently holds consent for."""
        ...

    async def break_glass(
        self, resident_id: str, user_id: str, now: float
    ) -> list[BreakGlassGrant]:
        """Active emergency-access grants of ``user_id`` for ``resident_id``."""
        ...

    async def resident_organization(self, resident_id: str) -> str | None:
        """The organisation a resident belongs to, or None when unknown."""
        ...


class NoFacts:
    """No consent and no break-glass; residents belong to ``organization`` when given.

    ``organization`` suits single-tenant set-ups and tests; leave it None to deny
    organisation-wide access to named residents (their organisation is unknown).
    """

    def __init__(self, organization: str | None = None) -> None:
        self._organization = organization

    async def consent_categories(self, resident_id: str, grantee_id: str) -> frozenset[str]:
        return frozenset()

    async def break_glass(
        self, resident_id: str, user_id: str, now: float
    ) -> list[BreakGlassGrant]:
        return []

    async def resident_organization(self, resident_id: str) -> str | None:
        return self._organization


@dataclass(frozen=True)
class _ConsentSnapshot:
    resident_id: str
    grantee_id: str
    categories: frozenset[str]

    def has_consent(self, resident_id: str, grantee_id: str, category: str) -> bool:
        return (
            resident_id == self.resident_id
            and grantee_id == self.grantee_id
            and category in self.categories
        )


_NO_CONSENT = _ConsentSnapshot("", "", frozenset())
#: Denials a break-glass grant can turn into an allow.
_SCOPE_FAILURES = frozenset(
    {
        Reason.OUT_OF_SCOPE,
        Reason.CONSENT_REQUIRED,
        Reason.CROSS_ORGANIZATION,
        Reason.BREAK_GLASS_EXPIRED,
    }
)


class AccessDenied(PermissionDenied):
    """PERMISSION_DENIED that remembers who was refused, so the denial's audit record
    names the caller (a service principal included), not ``anonymous``."""

    def __init__(self, message: str, principal: Principal | None) -> None:
        super().__init__(message)
        self.principal = principal


@dataclass(frozen=True, kw_only=True)
class Admission:
    """What the controller hands the handler (via ``mesh.context``): who and under which rule."""

    principal: Principal | None
    decision: Decision
    resident_id: str = ""


@dataclass(kw_only=True)
class TokenAccessController:
    """Authenticates by JWT or mTLS and authorizes by the rpc's proto rule."""

    verifier: Any
    """Anything with ``verify(token, now) -> Principal`` (TokenVerifier, ReloadingVerifier)."""
    facts: AccessFacts = field(default_factory=NoFacts)
    clock: Clock = field(default_factory=SystemClock)
    policy: Policy = DEFAULT_POLICY
    trusted_peers: frozenset[str] | None = None
    """Certificate names allowed to connect at all; None admits any verified certificate."""

    async def authorize(
        self, rule: MethodPolicy, metadata: Mapping[str, str], peer: Any, request: Any
    ) -> Admission:
        now = self.clock.wall()
        principal = self._authenticate(metadata, peer, now)
        resident_id = _field(request, rule.resident_field) if request is not None else ""
        if rule.resident_field and not resident_id:
            # Contracts allow other lookups (by record id, by related user): the call is
            # then unscoped and the handler restricts results to decision.visible_residents.
            rule = dataclasses.replace(rule, resident_field="")
        consent: Any = _NO_CONSENT
        resident_org = None
        scoped = principal is not None and bool(resident_id) and not principal.is_service
        scopes: frozenset[Scope] = frozenset()
        if principal is not None and scoped and rule.has_access_rule:
            # Look up only the live facts this role's scopes for the rpc can consult: a
            # provider reading an assigned resident needs none of them.
            scopes = scopes_for(principal.role, rule.resource, rule.action, self.policy)
            if Scope.CONSENTED_ACCESS in scopes:
                consent = _ConsentSnapshot(
                    resident_id,
                    principal.subject,
                    await self.facts.consent_categories(resident_id, principal.subject),
                )
            if Scope.ALL in scopes:
                resident_org = await self.facts.resident_organization(resident_id)
        decision = self._decide(principal, rule, resident_id, consent, now, resident_org)
        if (
            principal is not None
            and not decision.allowed
            and Scope.EMERGENCY in scopes
            and decision.reason in _SCOPE_FAILURES
        ):
            # Break-glass is consulted only after every ordinary scope failed, so the
            # grants are fetched only then (same decision as fetching them up front).
            grants = await self.facts.break_glass(resident_id, principal.subject, now)
            if grants:
                for grant in grants:
                    principal = principal.with_grant(grant)
                decision = self._decide(principal, rule, resident_id, consent, now, resident_org)
        if not decision.allowed:
            if decision.reason is Reason.UNAUTHENTICATED:
                raise Unauthenticated(
                    "authentication required: send 'authorization: Bearer <token>'"
                )
            raise AccessDenied(f"permission denied: {decision.reason.value}", principal)
        return Admission(principal=principal, decision=decision, resident_id=resident_id)

    def _decide(
        self,
        principal: Principal | None,
        rule: MethodPolicy,
        resident_id: str,
        consent: Any,
        now: float,
        resident_org: str | None,
    ) -> Decision:
        return authorize(
            principal,
            rule if rule.has_access_rule else None,
            resident_id or None,
            consent,
            now,
            resident_org=resident_org,
            policy=self.policy,
        )

    def _authenticate(self, metadata: Mapping[str, str], peer: Any, now: float) -> Principal | None:
        service = _peer_service(peer)
        if (
            service is not None
            and self.trusted_peers is not None
            and service not in self.trusted_peers
        ):
            raise PermissionDenied(f"caller {service!r} is not a trusted service")
        header = metadata.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("authorization header must be 'Bearer <token>'")
            try:
                principal: Principal = self.verifier.verify(token.strip(), now)
                return principal
            except TokenExpired:
                raise Unauthenticated("access token expired; refresh it") from None
            except TokenInvalid as exc:
                raise Unauthenticated(f"invalid access token: {exc}") from None
        if service is not None and service in self.policy.trusted_callers:
            return Principal.service(service)
        return None


def _peer_service(peer: Any) -> str | None:
    """The common name of a verified client certificate, if the call came over mTLS."""
    try:
        auth = peer.auth_context()
    except Exception:
        return None
    names = auth.get("x509_common_name") if auth else None
    return names[0].decode() if names else None


def _field(message: Message, path: str) -> str:
    if not path:
        return ""
    value: Any = message
    for part in path.split("."):
        value = getattr(value, part, "")
    return str(value or "")
