"""Exception tree of the ``mesh`` package.

Every error the mesh raises on its own account derives from ``MeshError``, so callers can
catch the mesh's failures without catching the application's::

    MeshError
    ├── NoEndpointsError         no endpoint is available to pick from
    ├── CircuitOpenError         the endpoint's breaker rejected the call without sending it
    ├── RetryBudgetExceeded      a retry was wanted but the retry budget is spent
    ├── RegistryError            the service registry misbehaved
    │   └── RegistryUnavailable  the registry cannot be reached right now (transient)
    └── ConfigError              a mesh configuration value is invalid

Errors coming from the RPC itself (``grpc.aio.AioRpcError``) are not wrapped: the mesh
re-raises them unchanged after its retry/breaker decisions, so status codes survive.
"""

from __future__ import annotations

__all__ = [
    "CircuitOpenError",
    "ConfigError",
    "MeshError",
    "NoEndpointsError",
    "RegistryError",
    "RegistryUnavailable",
    "RetryBudgetExceeded",
]


class MeshError(Exception):
    """Base class of every error raised by the mesh itself."""


class NoEndpointsError(MeshError):
    """A picker was asked to choose from an empty set of endpoints."""

    def __init__(self, service: str | None = None) -> None:
        self.service = service
        where = f" for service {service!r}" if service else ""
        super().__init__(f"no endpoints available{where}")


class CircuitOpenError(MeshError):
    """The endpoint's circuit breaker is open (or its half-open trial slots are taken).

    The call was rejected locally and never sent, so it is always safe to retry it on
    another endpoint.
    """

    def __init__(self, endpoint: str, *, remaining_s: float | None = None) -> None:
        self.endpoint = endpoint
        self.remaining_s = remaining_s
        super().__init__(f"circuit open for endpoint {endpoint!r}")


class RetryBudgetExceeded(MeshError):
    """A retry was allowed by the policy but refused by the retry budget."""


class RegistryError(MeshError):
    """The service registry returned something unusable or refused an operation."""


class RegistryUnavailable(RegistryError):
    """The registry cannot be reached; callers keep their last known view and retry."""


class ConfigError(MeshError, ValueError):
    """A mesh configuration value is invalid (also a ``ValueError``)."""
