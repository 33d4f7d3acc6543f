"""MetricsService over real gRPC, fed by a service's own reporter samples."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as echo_pb
from lilo.echo.v1 import echo_service_pb2_grpc as echo_grpc
from lilo.metrics.v1 import metrics_service_pb2 as pb
from lilo.metrics.v1 import metrics_service_pb2_grpc as pb_grpc

from mesh.reporter import collect
from mesh.testing import TestIdentity, serve
from services.echo.servicer import EchoServicer
from services.metrics.servicer import MetricsServicer

ECHO = "lilo.echo.v1.EchoService"


async def test_reported_samples_show_up_in_watch() -> None:
    ident = TestIdentity()
    md = ident.bearer("system")
    async with (
        serve([MetricsServicer()], access=ident.access) as metrics,
        serve([EchoServicer("e")], access=ident.access) as echo,
    ):
        async with aio.insecure_channel(echo.address) as ch:
            stub = echo_grpc.EchoServiceStub(ch)
            for _ in range(5):
                await stub.Echo(echo_pb.EchoRequest(), metadata=md)
            with pytest.raises(aio.AioRpcError):
                await stub.Echo(echo_pb.EchoRequest(fail_code=14), metadata=md)
        first = collect(ECHO, "e", started_at=1.0)
        assert first.requests >= 6 and any(e.count >= 1 for e in first.errors)

        async def samples() -> AsyncIterator[pb.ReportMetricsRequest]:
            yield collect(ECHO, "e", started_at=1.0)
            yield pb.ReportMetricsRequest(service="", instance_id="bad")

        async with aio.insecure_channel(metrics.address) as ch:
            stub = pb_grpc.MetricsServiceStub(ch)
            reply = await stub.ReportMetrics(samples(), metadata=md)
            assert (reply.accepted_samples, reply.rejected_samples) == (1, 1)
            stream = stub.WatchMetrics(pb.WatchMetricsRequest(services=[ECHO]), metadata=md)
            snapshot = await stream.read()
            stream.cancel()
            [view] = snapshot.services
            assert view.service == ECHO and view.instances == 1


async def test_watch_rejects_bad_intervals_and_needs_permission() -> None:
    ident = TestIdentity()
    async with (
        serve([MetricsServicer()], access=ident.access) as metrics,
        aio.insecure_channel(metrics.address) as ch,
    ):
        stub = pb_grpc.MetricsServiceStub(ch)
        bad = pb.WatchMetricsRequest()
        bad.interval.FromMilliseconds(5)
        with pytest.raises(aio.AioRpcError) as caught:
            await stub.WatchMetrics(bad, metadata=ident.bearer("system")).read()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "interval" in caught.value.details()
        with pytest.raises(aio.AioRpcError) as caught:
            await stub.WatchMetrics(
                pb.WatchMetricsRequest(), metadata=ident.bearer("resident")
            ).read()
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
