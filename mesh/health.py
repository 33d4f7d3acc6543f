"""grpc.health.v1 for mesh servers.

grpcio's asyncio ``HealthServicer.Watch`` writes with ``context.write``, which the
OpenTelemetry aio server interceptor cannot wrap (it iterates the handler as an
async generator). This subclass answers ``Watch`` as an async generator with the
same semantics, so health watching keeps working with tracing on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc_health.v1 import health_pb2
from grpc_health.v1._async import HealthServicer as _GrpcHealthServicer


class HealthServicer(_GrpcHealthServicer):  # type: ignore[misc]
    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        condition = self._server_watchers[request.service]
        self._watcher_count_by_service[request.service] += 1
        last = None
        try:
            async with condition:
                while True:
                    status = self._server_status.get(
                        request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                    )
                    if status != last:
                        yield health_pb2.HealthCheckResponse(status=status)
                    last = status
                    await condition.wait()
        finally:
            self._watcher_count_by_service[request.service] -= 1
            if self._watcher_count_by_service[request.service] == 0:
                del self._server_watchers[request.service]
                del self._watcher_count_by_service[request.service]
