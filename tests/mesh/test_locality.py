"""Zone-aware picking: the pure rule (``mesh.locality``), its configuration, and the mesh
client against real in-process echo servers in two zones."""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc
from prometheus_client import REGISTRY

from mesh.balancing import Endpoint, RingHash, RoundRobin
from mesh.client import AFFINITY_HEADER, ClientConfig, MeshClient, ServiceChannel
from mesh.config import LocalityConfig, ServerConfig, locality_config_from_env
from mesh.errors import ConfigError
from mesh.locality import DEFAULT_MAX_OVERLOAD, count_local, prefer_local, zone_share
from mesh.registry import InMemoryRegistry
from mesh.server import MeshServer
from mesh.testing import serve
from services.echo.servicer import EchoServicer

ECHO = "lilo.echo.v1.EchoService"


def ep(key: str, zone: str, weight: int = 1) -> Endpoint:
    return Endpoint(key, f"10.0.0.{len(key)}:50051", weight=weight, zone=zone)


def zones(**counts: int) -> list[Endpoint]:
    """``zones(a=2, b=1)``: endpoints a0, a1, b0 in zones a and b, weight 1."""
    return [ep(f"{z}{i}", z) for z, n in counts.items() for i in range(n)]


def keys(endpoints: Any) -> list[str]:
    return [e.key for e in endpoints]


# -- the rule ---------------------------------------------------------------------------


def test_local_endpoints_are_preferred_in_their_original_order() -> None:
    candidates = [ep("a0", "a"), ep("b0", "b"), ep("a1", "a"), ep("c0", "c")]
    chosen = prefer_local(candidates, "a", traffic_share=0.5)
    assert keys(chosen) == ["a0", "a1"]


def test_single_zone_gets_the_very_same_list() -> None:
    candidates = zones(a=3)
    assert prefer_local(candidates, "a", traffic_share=1.0) is candidates


def test_all_zones_unknown_gets_the_very_same_list() -> None:
    candidates = [ep("u0", ""), ep("u1", "")]
    assert prefer_local(candidates, "a", traffic_share=0.5) is candidates


def test_caller_without_a_zone_never_filters_even_unknown_zone_endpoints() -> None:
    candidates = [ep("u0", ""), ep("b0", "b")]
    assert prefer_local(candidates, "", traffic_share=1.0) is candidates


def test_endpoints_of_unknown_zone_are_never_local() -> None:
    candidates = [ep("u0", ""), ep("a0", "a"), ep("u1", "")]
    assert keys(prefer_local(candidates, "a", traffic_share=1 / 3)) == ["a0"]


def test_spills_over_to_every_zone_when_the_local_zone_is_empty() -> None:
    candidates = zones(b=2, c=2)
    assert prefer_local(candidates, "a", traffic_share=1 / 3) is candidates


def test_spills_over_when_fewer_local_endpoints_than_the_minimum() -> None:
    candidates = zones(a=1, b=1)
    assert prefer_local(candidates, "a", traffic_share=0.5, min_local_endpoints=2) is candidates
    two = zones(a=2, b=2)
    assert keys(prefer_local(two, "a", traffic_share=0.5, min_local_endpoints=2)) == ["a0", "a1"]


def test_overload_rule_keeps_a_slightly_shrunk_zone_local_and_spills_a_halved_one() -> None:
    # Three equal zones of four (s = 1/3): losing one local endpoint leaves the three
    # survivors 11/9 = 1.22 times hotter than average (<= 1.25); losing two, 10/6 = 1.67.
    one_lost = zones(a=3, b=4, c=4)
    assert keys(prefer_local(one_lost, "a", traffic_share=1 / 3)) == ["a0", "a1", "a2"]
    two_lost = zones(a=2, b=4, c=4)
    assert prefer_local(two_lost, "a", traffic_share=1 / 3) is two_lost


def test_overload_exactly_at_the_bound_stays_local() -> None:
    # s * w(C) = 0.5 * 5 = 2.5 = 1.25 * 2 = k * w(L)
    candidates = zones(a=2, b=3)
    assert keys(prefer_local(candidates, "a", traffic_share=0.5, max_overload=1.25)) == [
        "a0",
        "a1",
    ]
    assert prefer_local(candidates, "a", traffic_share=0.5, max_overload=1.24) is candidates


def test_callers_concentrated_in_one_zone_spill_over() -> None:
    # Every caller in zone a, the service spread over three zones: keeping calls local
    # would run a's endpoints three times hotter than the others.
    candidates = zones(a=2, b=2, c=2)
    assert prefer_local(candidates, "a", traffic_share=1.0) is candidates
    assert keys(prefer_local(candidates, "a", traffic_share=1 / 3)) == ["a0", "a1"]


def test_infinite_overload_bound_spills_only_below_the_minimum() -> None:
    candidates = zones(a=1, b=9)
    assert keys(prefer_local(candidates, "a", traffic_share=1.0, max_overload=math.inf)) == ["a0"]


def test_weights_count_as_capacity() -> None:
    # Two local endpoints of weight 1 against eight remote ones of weight 1 (s = 0.5): the
    # locals would run 0.5 * 10 / 2 = 2.5 times hotter: spill. Weight 4 each: 0.5 * 16 / 8 = 1.
    light = [ep("a0", "a"), ep("a1", "a")] + [ep(f"b{i}", "b") for i in range(8)]
    assert prefer_local(light, "a", traffic_share=0.5) is light
    heavy = [ep("a0", "a", 4), ep("a1", "a", 4)] + [ep(f"b{i}", "b") for i in range(8)]
    assert keys(prefer_local(heavy, "a", traffic_share=0.5)) == ["a0", "a1"]


def test_local_endpoints_of_weight_zero_are_a_last_resort() -> None:
    candidates = [ep("a0", "a", 0), ep("b0", "b", 1)]
    assert prefer_local(candidates, "a", traffic_share=0.01) is candidates


def test_all_weights_zero_count_each_endpoint_once() -> None:
    candidates = [ep("a0", "a", 0), ep("b0", "b", 0)]
    assert keys(prefer_local(candidates, "a", traffic_share=0.5)) == ["a0"]
    assert prefer_local(candidates, "a", traffic_share=1.0) is candidates


def test_never_returns_an_empty_or_foreign_list() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        n = rng.randint(1, 8)
        candidates = [
            ep(f"k{i}", rng.choice(["", "a", "b", "c"]), rng.choice([0, 1, 3, 100]))
            for i in range(n)
        ]
        share = rng.choice([0.01, 0.2, 1 / 3, 0.5, 1.0])
        chosen = prefer_local(
            candidates,
            rng.choice(["", "a", "b"]),
            traffic_share=share,
            min_local_endpoints=rng.randint(1, 3),
            max_overload=rng.choice([1.0, DEFAULT_MAX_OVERLOAD, 2.0]),
        )
        assert chosen, candidates
        assert chosen is candidates or len({e.zone for e in chosen}) == 1
        assert set(keys(chosen)) <= set(keys(candidates))


def test_zone_share_weighs_endpoints() -> None:
    assert zone_share([ep("a0", "a", 3), ep("b0", "b", 1)], "a") == 0.75
    assert zone_share([ep("a0", "a", 0), ep("b0", "b", 0), ep("b1", "b", 0)], "a") == 1 / 3
    assert zone_share([], "a") == 0.0
    assert zone_share([ep("u0", "")], "") == 0.0
    assert count_local([ep("u0", ""), ep("a0", "a")], "") == 0
    assert count_local([ep("u0", ""), ep("a0", "a")], "a") == 1


def test_round_robin_over_the_decision_matches_round_robin_without_it_in_one_zone() -> None:
    candidates = zones(a=3)
    with_rule, without = RoundRobin(), RoundRobin()
    picks = [with_rule.pick(prefer_local(candidates, "a", traffic_share=1.0)) for _ in range(7)]
    assert keys(picks) == keys(without.pick(candidates) for _ in range(7))


# -- configuration ----------------------------------------------------------------------


def test_locality_is_on_by_default_but_inert_without_a_zone() -> None:
    assert LocalityConfig().enabled and not LocalityConfig().active
    assert LocalityConfig(zone="a").active
    assert not LocalityConfig(zone="a", enabled=False).active
    assert ClientConfig().locality == LocalityConfig()


@pytest.mark.parametrize(
    "bad",
    [
        {"min_local_endpoints": 0},
        {"max_overload": 0.99},
        {"max_overload": math.nan},
        {"traffic_share": 0.0},
        {"traffic_share": 1.5},
        {"traffic_share": math.nan},
    ],
)
def test_bad_locality_values_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        LocalityConfig(zone="a", **bad)


def test_locality_from_env_defaults_follow_the_server_zone() -> None:
    cfg = locality_config_from_env({})
    assert cfg == LocalityConfig(zone="local")
    assert cfg.max_overload == DEFAULT_MAX_OVERLOAD and cfg.traffic_share is None


def test_locality_from_env_reads_every_variable() -> None:
    cfg = locality_config_from_env(
        {
            "LILO_ZONE": "eu-west-1b",
            "LILO_LOCALITY": "off",
            "LILO_LOCALITY_MIN_ENDPOINTS": "2",
            "LILO_LOCALITY_MAX_OVERLOAD": "1.5",
            "LILO_LOCALITY_TRAFFIC_SHARE": "0.25",
        }
    )
    assert cfg == LocalityConfig(
        enabled=False,
        zone="eu-west-1b",
        min_local_endpoints=2,
        max_overload=1.5,
        traffic_share=0.25,
    )
    assert not cfg.active


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LILO_LOCALITY", "maybe"),
        ("LILO_LOCALITY_MIN_ENDPOINTS", "one"),
        ("LILO_LOCALITY_MIN_ENDPOINTS", "0"),
        ("LILO_LOCALITY_MAX_OVERLOAD", "fast"),
        ("LILO_LOCALITY_MAX_OVERLOAD", "0.5"),
        ("LILO_LOCALITY_TRAFFIC_SHARE", "2"),
    ],
)
def test_bad_locality_env_is_a_config_error_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match="LILO_LOCALITY"):
        locality_config_from_env({name: value})


# -- through the mesh client, against real servers --------------------------------------


class ZonedEcho(EchoServicer):
    """An echo instance that can be told to answer UNAVAILABLE."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(instance_id)
        self.unavailable = False

    async def Echo(
        self, request: pb.EchoRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.EchoResponse:
        if self.unavailable:
            self.calls += 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.instance_id} is down")
        return await super().Echo(request, context)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def start(
    stack: AsyncExitStack, registry: InMemoryRegistry, placement: dict[str, str]
) -> dict[str, tuple[MeshServer, ZonedEcho]]:
    """One echo instance per ``name: zone`` of ``placement``, all of the same weight."""
    out = {}
    for name, zone in placement.items():
        servicer = ZonedEcho(name)
        server = await stack.enter_async_context(
            serve(
                [servicer],
                registry=registry,
                config=ServerConfig(instance_id=name, zone=zone, lease_ttl=2.0, drain_grace=1.0),
            )
        )
        out[name] = (server, servicer)
    return out


async def two_zones(
    stack: AsyncExitStack,
) -> tuple[InMemoryRegistry, dict[str, tuple[MeshServer, ZonedEcho]]]:
    """Instance ``near`` in zone a and ``far`` in zone b."""
    registry = InMemoryRegistry()
    return registry, await start(stack, registry, {"near": "a", "far": "b"})


async def channel_for(
    stack: AsyncExitStack, registry: InMemoryRegistry, zone: str, n: int = 2, **cfg: Any
) -> ServiceChannel:
    client = MeshClient(registry, ClientConfig(locality=LocalityConfig(zone=zone), **cfg))
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(n)
    return channel


async def until(predicate: Callable[[], bool], channel: ServiceChannel) -> None:
    async def wait() -> None:
        while not predicate():
            await channel._changed.wait()

    await asyncio.wait_for(wait(), 5)


async def answers(stub: Any, n: int, metadata: Any = None) -> Counter[str]:
    return Counter(
        [(await stub.Echo(pb.EchoRequest(), metadata=metadata)).instance_id for _ in range(n)]
    )


def gauge(state: str) -> float | None:
    return REGISTRY.get_sample_value("lilo_mesh_endpoints", {"service": ECHO, "state": state})


async def test_calls_stay_in_the_callers_zone_and_spill_over_when_it_empties(
    stack: AsyncExitStack,
) -> None:
    registry, servers = await two_zones(stack)
    channel = await channel_for(stack, registry, "a")
    stub = pb_grpc.EchoServiceStub(channel)

    assert await answers(stub, 20) == {"near": 20}
    assert (gauge("usable"), gauge("local"), gauge("preferred")) == (2, 1, 1)

    near = servers["near"][0]
    await near.drain(grace=1.0)  # NOT_SERVING, deregistered, stopped
    await until(lambda: len(channel._rotation()) == 1, channel)
    assert await answers(stub, 10) == {"far": 10}
    assert (gauge("usable"), gauge("local"), gauge("preferred")) == (1, 0, 1)


async def test_a_client_without_a_zone_spreads_over_both_zones(stack: AsyncExitStack) -> None:
    registry, _ = await two_zones(stack)
    stub = pb_grpc.EchoServiceStub(await channel_for(stack, registry, ""))
    assert await answers(stub, 20) == {"near": 10, "far": 10}


async def test_env_defaults_leave_a_single_zone_deployment_balanced_as_before(
    stack: AsyncExitStack,
) -> None:
    registry = InMemoryRegistry()
    for name in ("s0", "s1", "s2"):  # ServerConfig's default zone, like LILO_ZONE's: "local"
        await stack.enter_async_context(
            serve([EchoServicer(name)], registry=registry, config=ServerConfig(instance_id=name))
        )
    locality = locality_config_from_env({})
    assert locality.active and locality.zone == "local"
    client = MeshClient(registry, ClientConfig(locality=locality))
    stack.push_async_callback(client.close)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(3)
    assert await answers(pb_grpc.EchoServiceStub(channel), 30) == {"s0": 10, "s1": 10, "s2": 10}


async def test_a_retry_leaves_the_zone_when_the_local_endpoint_fails(
    stack: AsyncExitStack,
) -> None:
    registry, servers = await two_zones(stack)
    stub = pb_grpc.EchoServiceStub(await channel_for(stack, registry, "a"))
    near = servers["near"][1]
    near.unavailable = True
    # Echo is idempotent: its UNAVAILABLE is retried, and the retry avoids ``near``,
    # which leaves zone a without a local endpoint for it.
    reply = await stub.Echo(pb.EchoRequest())
    assert reply.instance_id == "far" and near.calls == 1


async def test_an_open_breaker_in_the_zone_keeps_calls_local_while_the_zone_can_take_them(
    stack: AsyncExitStack,
) -> None:
    registry = InMemoryRegistry()
    servers = await start(stack, registry, {"a0": "a", "a1": "a", "a2": "a", "far": "b"})
    channel = await channel_for(stack, registry, "a", 4, breaker_fail_max=1, outliers=None)
    stub = pb_grpc.EchoServiceStub(channel)
    down = servers["a0"][1]
    down.unavailable = True
    while not down.calls:  # round robin over a0..a2 reaches a0 within three calls
        assert (await stub.Echo(pb.EchoRequest())).instance_id != "a0"
    assert channel._breakers_not_closed == 1  # a0's breaker is open: calls are filtered
    # a1 and a2 take zone a's calls (estimated share 3/4): 0.75 * 3 <= 1.25 * 2.
    assert await answers(stub, 12) == {"a1": 6, "a2": 6}
    assert down.calls == 1


async def test_ring_hash_keys_map_alike_from_every_zone(stack: AsyncExitStack) -> None:
    registry, _ = await two_zones(stack)
    in_a = await channel_for(stack, registry, "a", policy="ring_hash")
    in_b = await channel_for(stack, registry, "b", policy="ring_hash")
    assert isinstance(in_a.picker, RingHash)
    stub_a, stub_b = pb_grpc.EchoServiceStub(in_a), pb_grpc.EchoServiceStub(in_b)
    owners = {}
    for i in range(16):
        md = [(AFFINITY_HEADER, f"conversation-{i}")]
        seen_a, seen_b = await answers(stub_a, 3, md), await answers(stub_b, 3, md)
        assert len(seen_a) == 1 and seen_a == seen_b  # one owner, whatever the zone
        owners[i] = next(iter(seen_a))
    assert set(owners.values()) == {"near", "far"}  # the ring spans both zones
    # Calls without a key have no affinity: they stay in the caller's zone.
    assert await answers(stub_a, 6) == {"near": 6}
    assert await answers(stub_b, 6) == {"far": 6}
