"""MetricsService: ingest cumulative samples, serve conflated live snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from google.rpc import code_pb2
from lilo.metrics.v1 import metrics_service_pb2 as pb
from lilo.metrics.v1 import metrics_service_pb2_grpc as pb_grpc

from mesh.background import stop_task
from mesh.clock import Clock, SystemClock
from mesh.status import InvalidArgument
from services.metrics.window import Aggregator, Latest, Sample

_BREAKER_NAMES = {
    pb.BREAKER_STATE_CLOSED: "closed",
    pb.BREAKER_STATE_OPEN: "open",
    pb.BREAKER_STATE_HALF_OPEN: "half_open",
}
_BREAKER_VALUES = {v: k for k, v in _BREAKER_NAMES.items()}


def _seconds(
    value: duration_pb2.Duration, default: float, lo: float, hi: float, name: str
) -> float:
    seconds = value.ToTimedelta().total_seconds() if value.ByteSize() else default
    if not lo <= seconds <= hi:
        raise InvalidArgument(f"{name} must be between {lo} s and {hi} s, got {seconds} s")
    return seconds


def sample_from(request: pb.ReportMetricsRequest) -> Sample:
    return Sample(
        service=request.service,
        instance_id=request.instance_id,
        started_at=request.started_at.ToNanoseconds() / 1e9,
        requests=request.requests,
        errors=sum(e.count for e in request.errors if e.code != code_pb2.OK),
        active_streams=request.active_streams,
        bounds_ms=tuple(request.latency.upper_bounds_ms),
        bucket_counts=tuple(request.latency.counts),
        # A report speaks for its own instance only: whatever instance_id a breaker
        # carries, the keeper is the reporting instance.
        breakers=tuple(
            (b.endpoint, _BREAKER_NAMES.get(b.state, "closed"), request.instance_id)
            for b in request.breakers
        ),
    )


class MetricsServicer(pb_grpc.MetricsServiceServicer):
    def __init__(self, aggregator: Aggregator | None = None, clock: Clock | None = None) -> None:
        self.aggregator = aggregator or Aggregator()
        self._clock = clock or SystemClock()

    async def ReportMetrics(
        self, request_iterator: AsyncIterator[pb.ReportMetricsRequest], context: Any
    ) -> pb.ReportMetricsResponse:
        accepted = rejected = 0
        async for request in request_iterator:
            sample = sample_from(request)
            if sample.validate() is None:
                self.aggregator.ingest(sample, self._clock.now())
                accepted += 1
            else:
                rejected += 1
        return pb.ReportMetricsResponse(accepted_samples=accepted, rejected_samples=rejected)

    async def WatchMetrics(
        self, request: pb.WatchMetricsRequest, context: Any
    ) -> AsyncIterator[pb.WatchMetricsResponse]:
        interval = _seconds(request.interval, 1.0, 0.1, 60.0, "interval")
        window = _seconds(request.window, 10.0, 1.0, 300.0, "window")
        latest = Latest()

        async def produce() -> None:
            while True:
                latest.put(self.snapshot(list(request.services), window))
                await asyncio.sleep(interval)

        producer = asyncio.ensure_future(produce())
        try:
            while True:
                # Whatever was produced while the watcher was slow, it gets the newest.
                yield await latest.get()  # type: ignore[misc]
        finally:
            await stop_task(producer)

    def snapshot(self, services: list[str], window: float) -> pb.WatchMetricsResponse:
        taken = timestamp_pb2.Timestamp()
        taken.FromNanoseconds(int(self._clock.wall() * 1e9))
        span = duration_pb2.Duration()
        span.FromNanoseconds(int(window * 1e9))
        return pb.WatchMetricsResponse(
            taken_at=taken,
            window=span,
            services=[
                pb.ServiceSnapshot(
                    service=v.service,
                    instances=v.instances,
                    request_rate=v.request_rate,
                    error_rate=v.error_rate,
                    p50_latency_ms=v.p50_ms,
                    p99_latency_ms=v.p99_ms,
                    active_streams=v.active_streams,
                    breakers=[
                        pb.BreakerStatus(endpoint=e, state=_BREAKER_VALUES[s], instance_id=i)
                        for e, s, i in v.breakers
                    ],
                )
                for v in self.aggregator.view(services, window, self._clock.now())
            ],
        )
