"""What a service's reporter sends: its mesh client's breakers, and unary latency only.

Real servers: services started by ``mesh.runner.serve_service`` over mTLS on a real Redis
registry, and a real failing endpoint, watched through ``WatchMetrics``.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as echo_pb
from lilo.echo.v1 import echo_service_pb2_grpc as echo_grpc
from lilo.metrics.v1 import metrics_service_pb2 as pb
from lilo.metrics.v1 import metrics_service_pb2_grpc as pb_grpc
from lilo.safety.v1 import safety_service_pb2 as safety_pb
from lilo.safety.v1 import safety_service_pb2_grpc as safety_grpc

from mesh.config import ServerConfig, TlsConfig
from mesh.registry.redis import RedisRegistry
from mesh.reporter import collect
from mesh.testing import TestIdentity, serve
from services.echo.servicer import EchoServicer
from services.metrics.servicer import MetricsServicer
from tests.mesh.runnerkit import MtlsServices

ECHO = "lilo.echo.v1.EchoService"
SAFETY = "lilo.safety.v1.SafetyService"
METRICS = "lilo.metrics.v1.MetricsService"


class DownSafety(safety_grpc.SafetyServiceServicer):
    """A safety endpoint whose model is down: every call fails as an endpoint failure."""

    async def AnalyzeContent(
        self, request: safety_pb.AnalyzeContentRequest, context: aio.ServicerContext[Any, Any]
    ) -> safety_pb.AnalyzeContentResponse:
        await context.abort(grpc.StatusCode.UNAVAILABLE, "model not loaded")
        raise AssertionError("abort raises")


async def test_an_open_breaker_shows_up_in_the_keeping_services_snapshot(
    tmp_path: Path, redis_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = TestIdentity()
    operator = ident.bearer("system", "operator-1")
    services = MtlsServices(
        tmp_path, redis_db_url, monkeypatch, ("metrics", "echo", "safety"), ident
    )
    ca, certs, clients, start = services.ca, services.certs, services.clients, services.start

    async with AsyncExitStack() as stack:
        metrics = await start("metrics", MetricsServicer())
        stack.push_async_callback(metrics.drain)
        echo = await start("echo", EchoServicer("echo-1"))
        stack.push_async_callback(echo.drain)
        registry = RedisRegistry.from_url(redis_db_url)
        stack.push_async_callback(registry.close)
        safety = await stack.enter_async_context(
            serve(
                [DownSafety()],
                registry=registry,
                config=ServerConfig(
                    tls=TlsConfig(
                        cert_file=str(certs["safety"].cert_file),
                        key_file=str(certs["safety"].key_file),
                        client_ca_file=str(ca.ca_file),
                    ),
                    lease_ttl=5.0,
                ),
            )
        )
        # The echo service's own client calls safety, as crisis would, until it gives up.
        client = clients["echo"]
        to_safety = client.channel(SAFETY)
        await to_safety.wait_for_endpoints(1)
        analyze = safety_grpc.SafetyServiceStub(to_safety).AnalyzeContent

        async def fail_once() -> None:
            with pytest.raises(aio.AioRpcError) as caught:
                await analyze(safety_pb.AnalyzeContentRequest(), metadata=operator, timeout=5)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        for _ in range(10):
            if [b.state for b in to_safety.breaker_states()] == ["open"]:
                break
            await fail_once()
        [breaker] = to_safety.breaker_states()
        assert (breaker.service, breaker.address, breaker.state) == (SAFETY, safety.address, "open")
        expected = f"{SAFETY}/{safety.address}"

        watcher = clients["metrics"].channel(METRICS)
        await watcher.wait_for_endpoints(1)

        async def echo_snapshot_with_open_breaker() -> pb.ServiceSnapshot:
            request = pb.WatchMetricsRequest(
                services=[ECHO], interval=duration_pb2.Duration(nanos=100_000_000)
            )
            watch = pb_grpc.MetricsServiceStub(watcher).WatchMetrics(request, metadata=operator)
            snapshot: pb.WatchMetricsResponse
            async for snapshot in watch:
                view: pb.ServiceSnapshot
                for view in snapshot.services:
                    states = {b.endpoint: b.state for b in view.breakers}
                    if states.get(expected) == pb.BREAKER_STATE_OPEN:
                        watch.cancel()
                        return view
                # The breaker turns half-open after its reset timeout; a failing trial
                # opens it again, so a slow machine still sees it open in some report.
                if to_safety.breaker_states()[0].state != "open":
                    await fail_once()
            raise AssertionError("the watch ended")

        view = await asyncio.wait_for(echo_snapshot_with_open_breaker(), 20)
        by_endpoint = {b.endpoint: b for b in view.breakers}
        assert by_endpoint[expected].instance_id == "echo-1"  # the instance keeping it
        # The reporter's own stream goes through the same client: its breaker is closed.
        [to_metrics] = [b for e, b in by_endpoint.items() if e.startswith(METRICS + "/")]
        assert to_metrics.state == pb.BREAKER_STATE_CLOSED
        assert [b.endpoint for b in view.breakers] == sorted(by_endpoint)


def unary_latency_count() -> int:
    return sum(collect(ECHO, "e", started_at=1.0).latency.counts)


def finished_calls() -> int:
    return collect(ECHO, "e", started_at=1.0).requests


async def test_streams_are_counted_as_requests_but_left_out_of_the_latency_histogram() -> None:
    async with serve([EchoServicer("e")]) as server, aio.insecure_channel(server.address) as ch:
        stub = echo_grpc.EchoServiceStub(ch)
        await stub.Echo(echo_pb.EchoRequest(payload="warm"))  # the series exist from here
        calls, latency = finished_calls(), unary_latency_count()

        replies = [r async for r in stub.EchoStream(echo_pb.EchoStreamRequest(count=3))]
        assert [r.index for r in replies] == [1, 2, 3]

        async def two() -> Any:
            for payload in ("a", "b"):
                yield echo_pb.EchoBidiRequest(payload=payload)

        assert len([r async for r in stub.EchoBidi(two())]) == 2
        # The server finished (and recorded) both streams before their status went out.
        assert finished_calls() == calls + 2
        assert unary_latency_count() == latency

        await stub.Echo(echo_pb.EchoRequest(payload="x"))
        assert finished_calls() == calls + 3
        assert unary_latency_count() == latency + 1
