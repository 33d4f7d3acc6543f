"""Every service of the local mesh: how to start it, how many instances, what it needs.

``scripts/up`` starts them in this order (auth first: it publishes the JWKS the others
verify tokens with). A service whose package has no ``__main__`` is reported as not
built, never pretended.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    name: str
    """Package under services/, and the name used by ``--services``."""
    port: int
    """Port of the first instance; further instances take the next free ports."""
    instances: int = 1
    needs_db: bool = True
    needs_redis: bool = False
    identity: str = ""
    """The name the service runs as (its mTLS certificate and trusted-caller row), when it
    differs from ``name``."""

    @property
    def service_identity(self) -> str:
        return self.identity or self.name

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    def built(self) -> bool:
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except ModuleNotFoundError:  # the package itself does not exist yet
            return False


CATALOG: tuple[ServiceSpec, ...] = (
    ServiceSpec(name="auth", port=8080, needs_redis=True),
    ServiceSpec(name="audit", port=8084),
    ServiceSpec(name="consent", port=8083),
    ServiceSpec(name="emergency", port=8085, identity="emergency_access"),
    ServiceSpec(name="relationships", port=8087, needs_redis=True),
    ServiceSpec(name="safety", port=8007, instances=2, needs_db=False),
    ServiceSpec(name="crisis", port=8089, instances=2, needs_redis=True),
    ServiceSpec(name="chat", port=8002, instances=2, needs_redis=True),
    ServiceSpec(name="voice", port=8077, instances=2, needs_db=False),
    ServiceSpec(name="metrics", port=8092, needs_db=False),
    ServiceSpec(name="subscription", port=8088, needs_redis=True),
    ServiceSpec(name="billing", port=8081),
    ServiceSpec(name="tasks", port=8086),
    ServiceSpec(name="memory", port=8001),
    ServiceSpec(name="echo", port=8099, instances=2, needs_db=False),
)


def by_name(names: str | None) -> list[ServiceSpec]:
    if not names:
        return list(CATALOG)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {s.name: s for s in CATALOG}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [s for s in CATALOG if s.name in wanted]
