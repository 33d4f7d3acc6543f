"""Helpers for tests of services built on the mesh: serve a servicer in-process.

``AllowAll`` is an access controller for tests of transport behaviour only; it
is never used by a service entry point (those always enforce the contract).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mesh.config import ServerConfig
from mesh.policy import MethodPolicy
from mesh.registry import InMemoryRegistry, Registry
from mesh.server import MeshServer
from mesh.status import PermissionDenied


class AllowAll:
    """Admits every call to an rpc that has an access rule; still denies rule-less rpcs."""

    async def authorize(
        self, policy: MethodPolicy, metadata: Mapping[str, str], peer: Any, request: Any
    ) -> Any:
        if not policy.has_access_rule:
            raise PermissionDenied(f"{policy.path} declares no access rule")
        return None


@asynccontextmanager
async def serve(
    servicers: Sequence[object],
    *,
    registry: Registry | None = None,
    access: Any = None,
    audit: Any = None,
    config: ServerConfig | None = None,
) -> AsyncIterator[MeshServer]:
    """Run a ``MeshServer`` on a free loopback port for the duration of the block."""
    server = MeshServer(
        servicers,
        registry=registry or InMemoryRegistry(),
        access=access or AllowAll(),
        audit=audit,
        config=config or ServerConfig(lease_ttl=2.0, drain_grace=1.0),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class TestIdentity:
    """A signing key set plus the access controller that trusts it, for tests.

    ``bearer(...)`` mints a real signed JWT for a principal, so tests exercise the
    same authentication and RBAC path as production.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, facts: Any = None, clock: Any = None) -> None:
        from mesh.access import NoFacts, TokenAccessController
        from mesh.clock import SystemClock
        from mesh.identity.tokens import KeySet
        from mesh.runner import AUDIENCE, ISSUER

        self.clock = clock or SystemClock()
        self.keys = KeySet(ISSUER, AUDIENCE, self.clock.wall())
        self.access = TokenAccessController(
            verifier=self.keys.verifier(), facts=facts or NoFacts("org-1"), clock=self.clock
        )

    def token(self, principal: Any, ttl: float | None = None) -> str:
        return self.keys.issue(principal, self.clock.wall(), ttl)

    def bearer(
        self,
        role: str,
        subject: str = "user-1",
        *,
        organization_id: str = "org-1",
        relations: Sequence[tuple[str, str, str]] = (),
        mfa: bool = True,
    ) -> list[tuple[str, str]]:
        """gRPC metadata carrying a token for a user; relations are (resident, kind, consent)."""
        from mesh.identity.principal import PatientRelation, Principal, Role

        principal = Principal.user(
            subject,
            Role(role),
            organization_id=organization_id,
            relations=tuple(PatientRelation(r, k, c) for r, k, c in relations),  # type: ignore[arg-type]
            mfa=mfa,
        )
        return [("authorization", f"Bearer {self.token(principal)}")]
