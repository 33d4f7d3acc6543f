"""The mesh client's cheap per-call path keeps the behaviour of the slow one it replaced.

Covers: grpc_client_* series built at scrape time from plain counters, the breaker's
skip-pybreaker success path, the outlier detector's lazy success path and its
``next_return_at``, pass-through server streams accounted for by a done callback,
CLIENT spans made by the mesh on channels that carry no OpenTelemetry interceptor, and
streams that run no mesh code per message (all bookkeeping is per stream).
"""

from __future__ import annotations

import re
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc
from prometheus_client import generate_latest

from mesh import client as mesh_client
from mesh import telemetry
from mesh.breaker import EndpointBreaker, OutlierConfig, OutlierDetector
from mesh.client import MeshClient
from mesh.clock import FakeClock
from mesh.registry import InMemoryRegistry
from mesh.testing import serve
from services.echo.servicer import EchoServicer

ECHO = "lilo.echo.v1.EchoService"


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def echo_stub(stack: AsyncExitStack) -> tuple[Any, Any]:
    registry = InMemoryRegistry()
    await stack.enter_async_context(serve([EchoServicer("e0")], registry=registry))
    client = MeshClient(registry)
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(1)
    return pb_grpc.EchoServiceStub(channel), channel


def sample(name: str, **labels: str) -> float:
    """One sample of the default registry's exposition, 0 when absent."""
    text = generate_latest().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_client_series_are_exposed_with_codes_and_histogram(stack: AsyncExitStack) -> None:
    stub, _ = await echo_stub(stack)
    base = {"grpc_type": "unary", "grpc_service": ECHO, "grpc_method": "Echo"}
    before_ok = sample("grpc_client_handled_total", grpc_code="OK", **base)
    before_bad = sample("grpc_client_handled_total", grpc_code="INVALID_ARGUMENT", **base)
    before_count = sample("grpc_client_handling_seconds_count", **base)
    before_started = sample("grpc_client_started_total", **base)
    for _ in range(3):
        await stub.Echo(pb.EchoRequest(payload="x"))
    with pytest.raises(aio.AioRpcError) as caught:
        await stub.Echo(pb.EchoRequest(fail_code=grpc.StatusCode.INVALID_ARGUMENT.value[0]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sample("grpc_client_handled_total", grpc_code="OK", **base) == before_ok + 3
    bad = sample("grpc_client_handled_total", grpc_code="INVALID_ARGUMENT", **base)
    assert bad == before_bad + 1
    assert sample("grpc_client_started_total", **base) == before_started + 4
    assert sample("grpc_client_handling_seconds_count", **base) == before_count + 4
    # Buckets are cumulative and end at +Inf with the count.
    inf = sample("grpc_client_handling_seconds_bucket", le="+Inf", **base)
    assert inf == before_count + 4
    assert sample("grpc_client_handling_seconds_bucket", le="0.0005", **base) <= inf


def test_stats_put_each_observation_in_the_first_bucket_that_holds_it() -> None:
    stats = telemetry.ClientCallStats(("unary", "svc", uuid.uuid4().hex))
    stats.finished(grpc.StatusCode.OK, 0.001)  # exactly on a bound: le is inclusive
    stats.finished(grpc.StatusCode.UNAVAILABLE, 50.0)
    assert stats.buckets[1] == 1 and stats.buckets[-1] == 1 and sum(stats.buckets) == 2
    assert stats.ok == 1 and stats.errors == {grpc.StatusCode.UNAVAILABLE: 1}
    assert stats.sum == pytest.approx(50.001)


async def test_breaker_success_fast_path_still_counts_failures_and_opens() -> None:
    clock = FakeClock()
    breaker = EndpointBreaker("e", fail_max=2, reset_timeout_s=5, clock=clock)
    unavailable = aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, aio.Metadata(), aio.Metadata(), "down"
    )
    for _ in range(3):  # successes with nothing counted: pybreaker is not consulted
        breaker.settle(breaker.admit(), None)
    breaker.settle(breaker.admit(), unavailable)
    assert breaker.fail_counter == 1
    breaker.settle(breaker.admit(), None)  # a success after a failure resets the count
    assert breaker.fail_counter == 0 and breaker.state == "closed"
    breaker.settle(breaker.admit(), unavailable)
    breaker.settle(breaker.admit(), unavailable)
    assert breaker.state == "open" and not breaker.available and not breaker.closed
    clock.advance(5)
    trial = breaker.admit()  # half-open now: the one trial slot is taken
    assert breaker.state == "half_open"
    breaker.settle(trial, None)
    assert breaker.state == "closed" and breaker.closed


def test_outlier_success_of_a_returned_endpoint_is_recorded_after_its_return() -> None:
    clock = FakeClock()
    detector = OutlierDetector(
        OutlierConfig(consecutive_failures=2, base_ejection_time_s=10, max_ejection_percent=100),
        clock=clock,
    )
    detector.set_endpoints(["a", "b"])
    assert detector.next_return_at() is None
    detector.record("a", False)
    assert not detector.record("a", True)  # success resets the streak
    detector.record("a", False)
    assert detector.record("a", False)  # two in a row: ejected
    assert detector.next_return_at() == clock.now() + 10
    assert not detector.record("a", True)  # results of an ejected endpoint are ignored
    assert detector.ejected() == {"a"}
    clock.advance(10)
    assert not detector.record("a", True)
    assert detector.ejected() == frozenset() and detector.next_return_at() is None


async def test_pass_through_stream_is_accounted_when_it_ends(stack: AsyncExitStack) -> None:
    stub, channel = await echo_stub(stack)
    base = {"grpc_type": "server_stream", "grpc_service": ECHO, "grpc_method": "EchoStream"}
    before = sample("grpc_client_handled_total", grpc_code="OK", **base)
    got = [m.index async for m in stub.EchoStream(pb.EchoStreamRequest(payload="p", count=5))]
    assert got == [1, 2, 3, 4, 5]
    # The done callback has run by the time the iterator is exhausted.
    assert sample("grpc_client_handled_total", grpc_code="OK", **base) == before + 1
    assert channel.picker.in_flight("e0") == 0


async def test_pinned_bidi_goes_straight_to_grpc_and_is_accounted(stack: AsyncExitStack) -> None:
    stub, channel = await echo_stub(stack)
    base = {"grpc_type": "bidi_stream", "grpc_service": ECHO, "grpc_method": "EchoBidi"}
    before = sample("grpc_client_handled_total", grpc_code="OK", **base)
    call = stub.EchoBidi()
    for text in ("a", "b"):
        await call.write(pb.EchoBidiRequest(payload=text))
    await call.done_writing()
    assert [m.payload async for m in call] == ["a", "b"]
    assert await call.code() == grpc.StatusCode.OK
    assert sample("grpc_client_handled_total", grpc_code="OK", **base) == before + 1
    assert channel.picker.in_flight("e0") == 0


async def test_mesh_channels_carry_no_otel_interceptor(stack: AsyncExitStack) -> None:
    _, channel = await echo_stub(stack)
    (conn,) = channel._conns.values()
    # The OpenTelemetry interceptor would make grpc wrap every call in an extra task.
    assert not conn.channel._unary_unary_interceptors
    assert not conn.channel._stream_stream_interceptors


async def calls_from_mesh_client(
    consume: Callable[[int], Awaitable[int]], count: int
) -> Counter[str]:
    """Python functions run in or called from ``mesh/client.py`` (and builtins it calls)
    while ``consume(count)`` streams ``count`` messages; a generator's resumption counts
    as a call. Counting calls, not time, makes per-message work visible on a busy box."""
    here = mesh_client.__file__
    seen: Counter[str] = Counter()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            caller = frame.f_back
            if frame.f_code.co_filename == here or (
                caller is not None and caller.f_code.co_filename == here
            ):
                seen[frame.f_code.co_name] += 1
        elif event == "c_call" and frame.f_code.co_filename == here:
            seen[getattr(arg, "__name__", repr(arg))] += 1

    sys.setprofile(profile)
    try:
        assert await consume(count) == count
    finally:
        sys.setprofile(None)
    return seen


def per_message(few: Counter[str], many: Counter[str], extra: int) -> set[str]:
    """Names whose call count grew with the message count (at least every other message:
    one-off work such as a health update landing during one run stays below that)."""
    return {name for name in many if many[name] - few[name] >= extra // 2}


async def test_resumable_server_stream_runs_no_mesh_bookkeeping_per_message(
    stack: AsyncExitStack,
) -> None:
    stub, _ = await echo_stub(stack)

    async def consume(count: int) -> int:
        stream = stub.EchoStream(pb.EchoStreamRequest(payload="p", count=count))
        return len([m async for m in stream])

    await consume(3)  # first-use work (multicallables, snapshot) out of the way
    few = await calls_from_mesh_client(consume, 20)
    many = await calls_from_mesh_client(consume, 220)
    # Per message: the stream's own generator (the one layer raw grpc.aio has too) and
    # grpc's read. Cursors, metrics, spans and the picker are per stream.
    assert per_message(few, many, 200) == {"_run", "_read"}


async def test_bidi_stream_runs_no_mesh_code_per_message(stack: AsyncExitStack) -> None:
    stub, _ = await echo_stub(stack)

    async def consume(count: int) -> int:
        call = stub.EchoBidi()
        got = 0
        for _ in range(count):
            await call.write(pb.EchoBidiRequest(payload="p"))
            await call.read()
            got += 1
        await call.done_writing()
        assert await call.code() == grpc.StatusCode.OK
        return got

    await consume(3)
    few = await calls_from_mesh_client(consume, 20)
    many = await calls_from_mesh_client(consume, 220)
    assert many["stream_started"] == 1  # the profile saw the mesh's side of the call
    assert per_message(few, many, 200) == set()
