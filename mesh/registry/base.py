"""The registry contract: what a discovery backend must do, whatever it is built on."""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

DEFAULT_TTL_S = 3.0
"""A crashed instance disappears from every watcher within this many seconds."""


class ServingStatus(enum.StrEnum):
    """An instance's own word on whether it wants traffic."""

    SERVING = "serving"
    NOT_SERVING = "not_serving"
    DRAINING = "draining"


@dataclass(frozen=True, kw_only=True)
class InstanceRecord:
    """One running copy of a service, as discovery knows it."""

    service: str
    """Fully qualified gRPC service name, e.g. ``lilo.crisis.v1.CrisisService``."""
    instance_id: str
    """Unique among the instances of ``service``."""
    address: str
    """``host:port`` the instance listens on."""
    version: str = ""
    zone: str = ""
    weight: int = 100
    """Relative share of traffic for weighted balancing; must be positive."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    status: ServingStatus = ServingStatus.SERVING

    def __post_init__(self) -> None:
        if not self.service or not self.instance_id or not self.address:
            raise ValueError("an instance needs a service, an instance_id and an address")
        if self.weight <= 0:
            raise ValueError(f"weight must be positive, got {self.weight}")

    @property
    def serving(self) -> bool:
        return self.status is ServingStatus.SERVING

    def with_status(self, status: ServingStatus) -> InstanceRecord:
        return replace(self, status=status)

    def to_json(self) -> str:
        return json.dumps(
            {
                "service": self.service,
                "instance_id": self.instance_id,
                "address": self.address,
                "version": self.version,
                "zone": self.zone,
                "weight": self.weight,
                "metadata": dict(self.metadata),
                "status": self.status.value,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> InstanceRecord:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            service=raw["service"],
            instance_id=raw["instance_id"],
            address=raw["address"],
            version=raw.get("version", ""),
            zone=raw.get("zone", ""),
            weight=int(raw.get("weight", 100)),
            metadata=dict(raw.get("metadata", {})),
            status=ServingStatus(raw.get("status", "serving")),
        )


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """The whole live instance set of one service at one moment.

    Watchers get whole sets, never deltas, so a lost message cannot leave a client
    with a set that is wrong forever: the next snapshot replaces it.
    """

    service: str
    instances: tuple[InstanceRecord, ...]
    """Live instances (lease not lapsed), sorted by instance id, serving or not."""
    connected: bool = True
    """False while the backend is unreachable: the set is the last one known."""

    def serving(self) -> tuple[InstanceRecord, ...]:
        return tuple(i for i in self.instances if i.serving)


class Registry(Protocol):
    """A discovery backend. All methods run on the caller's event loop.

    ``heartbeat`` is an idempotent upsert of the whole record: it renews the lease
    and re-creates an instance the backend forgot (after a Redis restart, say).
    """

    async def register(self, record: InstanceRecord, ttl: float = DEFAULT_TTL_S) -> None: ...

    async def heartbeat(self, record: InstanceRecord, ttl: float = DEFAULT_TTL_S) -> None: ...

    async def deregister(self, service: str, instance_id: str) -> None: ...

    async def list_services(self) -> list[str]: ...

    async def list_instances(self, service: str) -> list[InstanceRecord]: ...

    def watch(self, service: str) -> AsyncIterator[Snapshot]:
        """Yield the current snapshot at once, then a new one after every change.

        A lapsed lease counts as a change. The iterator ends only when the caller
        stops iterating or the registry is closed.
        """
        ...

    async def close(self) -> None: ...
