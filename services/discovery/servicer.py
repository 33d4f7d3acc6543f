"""DiscoveryService over a ``mesh.registry.Registry``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from google.protobuf import duration_pb2
from grpc import aio
from lilo.discovery.v1 import discovery_service_pb2 as pb
from lilo.discovery.v1 import discovery_service_pb2_grpc as pb_grpc

from mesh.registry.base import DEFAULT_TTL_S, InstanceRecord, Registry, ServingStatus
from mesh.status import FailedPrecondition, InvalidArgument, NotFound

_TO_PB = {
    ServingStatus.SERVING: pb.SERVING_STATUS_SERVING,
    ServingStatus.NOT_SERVING: pb.SERVING_STATUS_NOT_SERVING,
    ServingStatus.DRAINING: pb.SERVING_STATUS_DRAINING,
}
_FROM_PB = {v: k for k, v in _TO_PB.items()}


def to_pb(record: InstanceRecord) -> pb.Instance:
    return pb.Instance(
        service=record.service,
        instance_id=record.instance_id,
        address=record.address,
        version=record.version,
        zone=record.zone,
        weight=record.weight,
        metadata=dict(record.metadata),
        status=_TO_PB[record.status],
    )


def from_pb(instance: pb.Instance) -> InstanceRecord:
    try:
        return InstanceRecord(
            service=instance.service,
            instance_id=instance.instance_id,
            address=instance.address,
            version=instance.version,
            zone=instance.zone,
            weight=instance.weight or 100,
            metadata=dict(instance.metadata),
            status=_FROM_PB.get(instance.status, ServingStatus.SERVING),
        )
    except ValueError as exc:
        raise InvalidArgument(f"instance: {exc}") from None


def _ttl(value: duration_pb2.Duration) -> float:
    ttl = value.ToTimedelta().total_seconds() if value.ByteSize() else DEFAULT_TTL_S
    if not 0.1 <= ttl <= 300:
        raise InvalidArgument(f"ttl must be between 0.1 s and 300 s, got {ttl} s")
    return ttl


class DiscoveryServicer(pb_grpc.DiscoveryServiceServicer):
    def __init__(
        self,
        registry: Registry,
        *,
        instance_id: str = "",
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._registry = registry
        self._instance_id = instance_id
        self._drain = drain

    async def ListServices(
        self, request: pb.ListServicesRequest, context: Any
    ) -> pb.ListServicesResponse:
        out = []
        for name in await self._registry.list_services():
            instances = await self._registry.list_instances(name)
            out.append(
                pb.ServiceSummary(
                    service=name,
                    instances=len(instances),
                    serving=sum(i.serving for i in instances),
                )
            )
        return pb.ListServicesResponse(services=out)

    async def ListInstances(
        self, request: pb.ListInstancesRequest, context: Any
    ) -> pb.ListInstancesResponse:
        if not request.service:
            raise InvalidArgument("service is required")
        records = await self._registry.list_instances(request.service)
        return pb.ListInstancesResponse(instances=[to_pb(r) for r in records])

    async def Register(self, request: pb.RegisterRequest, context: Any) -> pb.RegisterResponse:
        record = from_pb(request.instance)
        await self._registry.register(record, _ttl(request.ttl))
        return pb.RegisterResponse(instance=to_pb(record))

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Any) -> pb.HeartbeatResponse:
        current = {r.instance_id: r for r in await self._registry.list_instances(request.service)}
        record = current.get(request.instance_id)
        if record is None:
            raise NotFound(
                f"instance {request.instance_id!r} of {request.service!r} is not registered"
            )
        if request.status in _FROM_PB:
            record = record.with_status(_FROM_PB[request.status])
        await self._registry.heartbeat(record)
        return pb.HeartbeatResponse()

    async def Deregister(
        self, request: pb.DeregisterRequest, context: Any
    ) -> pb.DeregisterResponse:
        await self._registry.deregister(request.service, request.instance_id)
        return pb.DeregisterResponse()

    async def Drain(self, request: pb.DrainRequest, context: Any) -> pb.DrainResponse:
        if self._drain is None or request.instance_id != self._instance_id:
            raise FailedPrecondition(
                f"this is instance {self._instance_id!r}; send Drain to the instance itself"
            )
        records = {r.instance_id: r for r in await self._registry.list_instances(request.service)}
        record = records.get(request.instance_id)
        import asyncio

        # Answer first, then drain: the drain waits for in-flight calls, this one included.
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._drain()))  # type: ignore[misc]
        status = record.with_status(ServingStatus.DRAINING) if record else None
        return pb.DrainResponse(instance=to_pb(status) if status else None)

    async def WatchInstances(
        self, request: pb.WatchInstancesRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchInstancesResponse]:
        if not request.service:
            raise InvalidArgument("service is required")
        revision = 0
        async for snapshot in self._registry.watch(request.service):
            revision += 1
            yield pb.WatchInstancesResponse(
                instances=[to_pb(r) for r in snapshot.instances], revision=revision
            )
