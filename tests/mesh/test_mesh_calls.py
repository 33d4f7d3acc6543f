"""The mesh end to end on real sockets: balancing, breakers, retries, deadlines, drain, resume."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc

from mesh.client import ClientConfig, MeshClient
from mesh.config import ServerConfig
from mesh.registry import InMemoryRegistry
from mesh.registry.redis import RedisRegistry
from mesh.retry import HedgingPolicy, RetryPolicy
from mesh.server import MeshServer
from mesh.testing import AllowAll, serve
from services.echo.servicer import EchoServicer

ECHO = "lilo.echo.v1.EchoService"


class FlakyEcho(EchoServicer):
    """An echo instance that can be told to fail or to hang."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(instance_id)
        self.fail: grpc.StatusCode | None = None
        self.seen_time_remaining: list[float | None] = []
        self.arrivals: asyncio.Semaphore | None = None

    async def Echo(
        self, request: pb.EchoRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.EchoResponse:
        self.seen_time_remaining.append(context.time_remaining())
        if self.arrivals is not None:
            self.arrivals.release()
        if self.fail is not None:
            self.calls += 1
            await context.abort(self.fail, f"{self.instance_id} told to fail")
        return await super().Echo(request, context)


class BrokenEcho(EchoServicer):
    async def Echo(
        self, request: pb.EchoRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.EchoResponse:
        raise RuntimeError("secret internal detail")


async def start_instances(
    stack: AsyncExitStack, registry: Any, n: int, cls: type[EchoServicer] = FlakyEcho
) -> list[tuple[MeshServer, Any]]:
    out = []
    for i in range(n):
        servicer = cls(f"e{i}")
        server = await stack.enter_async_context(
            serve(
                [servicer],
                registry=registry,
                config=ServerConfig(instance_id=f"e{i}", lease_ttl=2.0, drain_grace=2.0),
            )
        )
        out.append((server, servicer))
    return out


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def client_for(
    stack: AsyncExitStack, registry: Any, n: int, **cfg: Any
) -> pb_grpc.EchoServiceStub:
    client = MeshClient(registry, ClientConfig(**cfg))
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(n)
    return pb_grpc.EchoServiceStub(channel)


async def test_round_robin_spreads_evenly(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    await start_instances(stack, registry, 3)
    stub = await client_for(stack, registry, 3)
    seen = Counter([(await stub.Echo(pb.EchoRequest(payload="x"))).instance_id for _ in range(30)])
    assert seen == {"e0": 10, "e1": 10, "e2": 10}


async def test_weighted_round_robin_follows_weights(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    for i, weight in enumerate((1, 3)):
        await stack.enter_async_context(
            serve(
                [EchoServicer(f"w{i}")],
                registry=registry,
                config=ServerConfig(instance_id=f"w{i}", weight=weight),
            )
        )
    stub = await client_for(stack, registry, 2, policy="weighted_round_robin")
    seen = Counter([(await stub.Echo(pb.EchoRequest())).instance_id for _ in range(40)])
    assert seen == {"w0": 10, "w1": 30}


async def test_ring_hash_pins_a_key_to_one_instance(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    await start_instances(stack, registry, 3)
    stub = await client_for(stack, registry, 3, policy="ring_hash")
    for key in ("conversation-1", "conversation-2", "conversation-3"):
        md = [("x-lilo-affinity-key", key)]
        answers = {(await stub.Echo(pb.EchoRequest(), metadata=md)).instance_id for _ in range(10)}
        assert len(answers) == 1


async def test_service_errors_keep_their_code_and_unexpected_ones_hide_details(
    stack: AsyncExitStack,
) -> None:
    registry = InMemoryRegistry()
    await start_instances(stack, registry, 1, cls=BrokenEcho)
    stub = await client_for(stack, registry, 1)
    with pytest.raises(aio.AioRpcError) as caught:
        await stub.Echo(pb.EchoRequest())
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "ref" in caught.value.details() and "secret" not in caught.value.details()


async def test_invalid_argument_passes_through_unretried(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    [(_, servicer)] = await start_instances(stack, registry, 1)
    stub = await client_for(stack, registry, 1)
    with pytest.raises(aio.AioRpcError) as caught:
        await stub.Echo(pb.EchoRequest(fail_code=3))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert servicer.calls == 1


async def test_idempotent_call_retries_on_another_instance(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)
    instances[0][1].fail = grpc.StatusCode.UNAVAILABLE
    stub = await client_for(stack, registry, 2, retry=RetryPolicy(initial_backoff_s=0.001))
    answers = [(await stub.Echo(pb.EchoRequest())).instance_id for _ in range(6)]
    assert answers == ["e1"] * 6  # e0's failures were retried on e1, never surfaced


async def test_breaker_opens_and_stops_sending(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)
    bad = instances[0][1]
    bad.fail = grpc.StatusCode.UNAVAILABLE
    stub = await client_for(
        stack,
        registry,
        2,
        breaker_fail_max=3,
        outliers=None,
        retry=RetryPolicy(max_attempts=1),
    )
    for _ in range(20):
        with __import__("contextlib").suppress(aio.AioRpcError):
            await stub.Echo(pb.EchoRequest())
    assert bad.calls == 3  # three failures opened it; nothing more was sent


async def test_retry_budget_caps_a_retry_storm(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)
    for _, servicer in instances:
        servicer.fail = grpc.StatusCode.UNAVAILABLE
    stub = await client_for(
        stack,
        registry,
        2,
        breaker_fail_max=1000,
        outliers=None,
        budget_percent=10.0,
        min_retry_concurrency=2,
        retry=RetryPolicy(max_attempts=5, initial_backoff_s=0.05, max_backoff_s=0.05),
    )
    results = await asyncio.gather(
        *(stub.Echo(pb.EchoRequest()) for _ in range(100)), return_exceptions=True
    )
    assert all(isinstance(r, aio.AioRpcError) for r in results)
    sent = sum(s.calls for _, s in instances)
    # Without a budget: 500 attempts. With 10% of 100 active (10 concurrent retries), far fewer.
    assert 100 < sent < 200


async def test_deadline_propagates_across_two_hops(stack: AsyncExitStack) -> None:
    back_registry, front_registry = InMemoryRegistry(), InMemoryRegistry()
    [(_, backend)] = await start_instances(stack, back_registry, 1)
    downstream = MeshClient(back_registry, ClientConfig(default_timeout=30.0))
    stack.push_async_callback(downstream.close)
    back_stub = pb_grpc.EchoServiceStub(downstream.channel(ECHO))

    class Front(EchoServicer):
        async def Echo(self, request: pb.EchoRequest, context: Any) -> pb.EchoResponse:
            return await back_stub.Echo(pb.EchoRequest(payload=request.payload, delay_ms=2000))

    await stack.enter_async_context(serve([Front("front")], registry=front_registry))
    stub = await client_for(stack, front_registry, 1)
    with pytest.raises(aio.AioRpcError) as caught:
        await stub.Echo(pb.EchoRequest(payload="x"), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    [remaining] = backend.seen_time_remaining
    # The caller's 0.3 s, give or take the clock's grain; not the 30 s default.
    assert remaining is not None and remaining <= 0.35


async def test_drain_loses_no_in_flight_call(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)
    stub = await client_for(stack, registry, 2)
    arrived = asyncio.Semaphore(0)
    for _, servicer in instances:
        servicer.arrivals = arrived
    calls = [asyncio.ensure_future(stub.Echo(pb.EchoRequest(delay_ms=300))) for _ in range(20)]
    for _ in range(20):  # every call has reached a server
        await arrived.acquire()
    await instances[0][0].drain(grace=3.0)
    answers = await asyncio.gather(*calls)
    assert len(answers) == 20 and {a.instance_id for a in answers} == {"e0", "e1"}
    after = {(await stub.Echo(pb.EchoRequest())).instance_id for _ in range(6)}
    assert after == {"e1"}
    assert [r.instance_id for r in await registry.list_instances(ECHO)] == ["e1"]


async def test_not_serving_health_takes_instance_out_of_rotation(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)
    client = MeshClient(registry)
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(2)
    await instances[0][0].set_serving(False)
    stub = pb_grpc.EchoServiceStub(channel)
    await asyncio.wait_for(_until(lambda: len(channel._rotation()) == 1, channel), 5)
    assert {(await stub.Echo(pb.EchoRequest())).instance_id for _ in range(6)} == {"e1"}


async def _until(predicate: Any, channel: Any) -> None:
    while not predicate():
        await channel._changed.wait()


async def test_server_stream_resumes_on_another_instance(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)
    stub = await client_for(stack, registry, 2)
    indices, owners = [], []
    stream = stub.EchoStream(pb.EchoStreamRequest(payload="p", count=30, interval_ms=10))
    async for message in stream:
        indices.append(message.index)
        owners.append(message.instance_id)
        if message.index == 5:
            first = next(s for s, e in instances if e.instance_id == message.instance_id)
            await first.stop()  # a crash mid-stream
    assert indices == list(range(1, 31))  # nothing missed, nothing repeated
    assert len(set(owners)) == 2 and stream.resumes == 1


async def test_bidi_stream_is_pinned_by_affinity(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    await start_instances(stack, registry, 3)
    stub = await client_for(stack, registry, 3, policy="ring_hash")

    async def talk(key: str) -> set[str]:
        async def requests() -> AsyncIterator[pb.EchoBidiRequest]:
            for i in range(5):
                yield pb.EchoBidiRequest(payload=str(i))

        call = stub.EchoBidi(requests(), metadata=[("x-lilo-affinity-key", key)])
        return {reply.instance_id async for reply in call}

    for key in ("voice-a", "voice-b"):
        first, second = await talk(key), await talk(key)
        assert len(first) == 1 and first == second


async def test_hedging_answers_from_the_fast_instance(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    instances = await start_instances(stack, registry, 2)

    class Slow(FlakyEcho):
        async def Echo(self, request: pb.EchoRequest, context: Any) -> pb.EchoResponse:
            await asyncio.sleep(5)
            return await super().Echo(request, context)

    await instances[0][0].stop()
    await stack.enter_async_context(
        serve([Slow("slow")], registry=registry, config=ServerConfig(instance_id="slow"))
    )
    await registry.deregister(ECHO, "e0")
    stub = await client_for(
        stack, registry, 2, policy="round_robin", hedging=HedgingPolicy(delay_s=0.05, max_hedges=1)
    )
    answers = [(await stub.Echo(pb.EchoRequest(), timeout=2)).instance_id for _ in range(4)]
    assert answers == ["e1"] * 4


async def test_unknown_method_and_rule_less_rpc_are_denied() -> None:
    registry = InMemoryRegistry()
    async with (
        serve([EchoServicer("x")], registry=registry, access=AllowAll()) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        call = channel.unary_unary("/lilo.echo.v1.EchoService/Nope")
        with pytest.raises(aio.AioRpcError) as caught:
            await call(b"")
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_discovery_under_churn_with_real_redis(stack: AsyncExitStack, redis_url: str) -> None:
    prefix = f"churn{id(stack)}"
    server_registry = RedisRegistry.from_url(redis_url, prefix=prefix)
    client_registry = RedisRegistry.from_url(redis_url, prefix=prefix, resync_interval=0.5)
    stack.push_async_callback(server_registry.close)
    stack.push_async_callback(client_registry.close)
    instances = await start_instances(stack, server_registry, 3)
    client = MeshClient(client_registry)
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(3)
    await instances[0][0].drain(grace=1)  # graceful leave: gone at once
    await asyncio.wait_for(_until(lambda: len(channel._conns) == 2, channel), 2)
    await instances[1][0].stop()  # crash: gone when its 2 s lease lapses
    await asyncio.wait_for(_until(lambda: len(channel._conns) == 1, channel), 4)
    stub = pb_grpc.EchoServiceStub(channel)
    assert {(await stub.Echo(pb.EchoRequest())).instance_id for _ in range(4)} == {"e2"}


async def test_health_watch_streams_status_changes() -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with (
        serve([EchoServicer("h")]) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=ECHO)
        )
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        await server.set_serving(False)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()


async def test_a_stream_outlives_its_endpoint_leaving_discovery(stack: AsyncExitStack) -> None:
    # A lease that lapses under load removes the instance from discovery while its
    # server still runs: new calls go elsewhere, but the open stream must not be cut.
    registry = InMemoryRegistry()
    await start_instances(stack, registry, 2)
    client = MeshClient(registry, ClientConfig())
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(2)
    stub = pb_grpc.EchoServiceStub(channel)
    stream = stub.EchoStream(pb.EchoStreamRequest(payload="p", count=40, interval_ms=20))
    first = await stream.read()
    owner = first.instance_id
    await registry.deregister(ECHO, owner)
    await asyncio.wait_for(_until(lambda: owner not in channel._conns, channel), 2)
    assert channel.retiring == 1
    other = {(await stub.Echo(pb.EchoRequest())).instance_id for _ in range(4)}
    assert owner not in other
    rest = [message async for message in stream]
    assert [m.index for m in rest] == list(range(2, 41))  # no gap, no resume elsewhere
    assert {m.instance_id for m in rest} == {owner}
    # With its last call ended, the removed endpoint's channel closes by itself.
    await asyncio.wait_for(asyncio.gather(*channel._retiring.values()), 5)
    assert channel.retiring == 0


async def test_closing_the_client_cuts_streams_on_removed_endpoints(stack: AsyncExitStack) -> None:
    registry = InMemoryRegistry()
    await start_instances(stack, registry, 1)
    client = MeshClient(registry, ClientConfig())
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(1)
    stub = pb_grpc.EchoServiceStub(channel)
    stream = stub.EchoStream(pb.EchoStreamRequest(count=1000, interval_ms=50))
    await stream.read()
    await registry.deregister(ECHO, "e0")
    await asyncio.wait_for(_until(lambda: channel.retiring == 1, channel), 2)
    await asyncio.wait_for(client.close(), 5)  # not the hour-long grace
    assert channel.retiring == 0
    received = 0

    async def drain() -> None:
        nonlocal received
        with contextlib.suppress(aio.AioRpcError, asyncio.CancelledError):
            while await stream.read() is not aio.EOF:
                received += 1

    # The stream was cut (a status, or an end), not left running on a closed client.
    await asyncio.wait_for(drain(), 5)
    assert received < 10
