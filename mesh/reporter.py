"""Each service reports its own gRPC metrics to the metrics service (ReportMetrics).

Reads this process's Prometheus series (the same ones ``/metrics`` scrapers see),
turns them into one cumulative sample per served service, adds the states of the
breakers the process's mesh client keeps for the endpoints it calls, and streams a
sample every ``interval`` seconds over one client-streaming call. The latency
histogram counts unary calls only (series labelled ``grpc_type="unary"``): a stream's
duration is how long it stayed open, which would drown the call latencies. Request
and error counts include streams. Best effort: when the
metrics service is down the reporter waits and opens a new stream; it never
slows the service it runs in. The stream carries no user token: the metrics
service admits it by the process's mTLS certificate (a service principal, whose
trusted-caller row includes ``metrics.write``), so ``mesh.runner`` starts a
reporter only in processes that have a client certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import code_pb2
from lilo.metrics.v1 import metrics_service_pb2 as pb
from lilo.metrics.v1 import metrics_service_pb2_grpc as pb_grpc
from prometheus_client import REGISTRY

from mesh.background import raise_if_cancelling, stop_task
from mesh.client import BreakerView, MeshClient

log = logging.getLogger(__name__)
METRICS_SERVICE = "lilo.metrics.v1.MetricsService"
_BREAKER_STATES = {
    "closed": pb.BREAKER_STATE_CLOSED,
    "open": pb.BREAKER_STATE_OPEN,
    "half_open": pb.BREAKER_STATE_HALF_OPEN,
}


def breaker_statuses(breakers: Iterable[BreakerView]) -> list[pb.BreakerStatus]:
    """Report form of a client's breakers: endpoint ``"<service>/<address>"``; the
    instance id stays empty (the metrics service fills in the reporting instance)."""
    return [
        pb.BreakerStatus(endpoint=f"{b.service}/{b.address}", state=_BREAKER_STATES[b.state])
        for b in breakers
    ]


def collect(
    service: str, instance_id: str, started_at: float, breakers: Iterable[BreakerView] = ()
) -> pb.ReportMetricsRequest:
    """One cumulative sample of ``service`` from the process's Prometheus registry, with
    ``breakers`` (the process's outgoing breakers) attached as they are."""
    requests = 0
    errors: dict[str, int] = {}
    bounds: list[float] = []
    cumulative: list[float] = []
    total_ms = 0.0
    streams = 0
    for family in REGISTRY.collect():
        for s in family.samples:
            labels = s.labels
            if labels.get("grpc_service", service) != service:
                continue
            if s.name == "grpc_server_handled_total":
                requests += int(s.value)
                if labels["grpc_code"] != "OK":
                    errors[labels["grpc_code"]] = errors.get(labels["grpc_code"], 0) + int(s.value)
            elif labels.get("grpc_type", "unary") != "unary":
                continue  # streams: in the counts above, not in the latency histogram
            elif s.name == "grpc_server_handling_seconds_bucket":
                le = float(labels["le"])
                if le not in bounds:
                    bounds.append(le)
                    cumulative.append(0.0)
                cumulative[bounds.index(le)] += s.value
            elif s.name == "grpc_server_handling_seconds_sum":
                total_ms += s.value * 1000
            elif s.name == "lilo_mesh_active_streams" and "grpc_service" in labels:
                streams += int(s.value)
    finite = [b for b in bounds if b != float("inf")]
    ordered = sorted(range(len(bounds)), key=lambda i: bounds[i])
    cum = [cumulative[i] for i in ordered]
    counts = [int(c - (cum[i - 1] if i else 0)) for i, c in enumerate(cum)]
    started, sampled = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    started.FromNanoseconds(int(started_at * 1e9))
    sampled.FromNanoseconds(int(time.time() * 1e9))
    return pb.ReportMetricsRequest(
        service=service,
        instance_id=instance_id,
        started_at=started,
        sampled_at=sampled,
        requests=requests,
        errors=[
            pb.ErrorCount(code=code_pb2.Code.Value(name), count=n)
            for name, n in sorted(errors.items())
            if name in code_pb2.Code.keys()  # noqa: SIM118 (enum wrapper, not a dict)
        ],
        active_streams=streams,
        latency=pb.LatencyHistogram(
            upper_bounds_ms=[b * 1000 for b in sorted(finite)], counts=counts, sum_ms=total_ms
        ),
        breakers=breaker_statuses(breakers),
    )


class MetricsReporter:
    """Streams samples of ``services`` to the metrics service through the mesh client.

    Every sample carries all of ``client``'s breakers: a process serving two services
    reports the same breakers under each (both snapshots show what the process keeps).
    """

    def __init__(
        self, client: MeshClient, services: Sequence[str], instance_id: str, interval: float = 5.0
    ) -> None:
        self._client = client
        self._channel = client.channel(METRICS_SERVICE)
        self._stub = pb_grpc.MetricsServiceStub(self._channel)
        self._services = [s for s in services if s != METRICS_SERVICE]
        self._instance_id = instance_id
        self._interval = interval
        self._started_at = time.time()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    async def _samples(self) -> AsyncIterator[pb.ReportMetricsRequest]:
        while True:
            breakers = self._client.breaker_states()
            for service in self._services:
                yield collect(service, self._instance_id, self._started_at, breakers)
            await asyncio.sleep(self._interval)

    async def _run(self) -> None:
        while True:
            # A stream is pinned when it opens: wait (briefly) until discovery knows where
            # the metrics service is, instead of failing at once while the mesh starts.
            with contextlib.suppress(TimeoutError):
                await self._channel.wait_for_endpoints(1, timeout=max(self._interval, 1.0))
            try:
                await self._stub.ReportMetrics(self._samples())
            except grpc.aio.AioRpcError as exc:
                raise_if_cancelling()
                log.debug("metrics stream ended: %s", exc.code().name)
            await asyncio.sleep(self._interval)
