"""``scripts/bench mesh``: what the mesh client costs, and how fast discovery converges.

Cases (each a JSON line):

* ``unary c1/c16/c64``: the same echo workload against the same two echo servers
  (child processes, auth on), through (a) a raw ``grpc.aio`` channel with grpc's
  own ``round_robin`` over both addresses and (b) the mesh client with Redis
  discovery, balancing, breakers, retry budget, outlier detection and telemetry
  (Prometheus series, OpenTelemetry CLIENT spans and trace propagation) on.
  ``ratio`` = median mesh/raw QPS, ``p50_added_us`` = mesh p50 - raw p50.

  Fairness: both sides hold two HTTP/2 connections (round_robin opens one subchannel
  per address; the mesh one channel per endpoint), send the same request and
  metadata through the same generated stub, and hit the same server processes, so
  server-side work (interceptors, auth) is identical and only the client differs
  (server interceptor cost is ``scripts/bench auth``'s subject). Rounds alternate
  which side goes first. The client runs alone in this process, so its CPU time per
  call (``client_cpu_us``, all threads) is reported too: unlike QPS it hardly moves
  when the shared machine is busy, and ``client_cpu_added_us`` is the mesh's own cost.
* ``discovery join/leave``: from a registration (or graceful deregistration)
  returning until each of N watching clients has applied it; p50/p99 over rounds.
* ``discovery crash``: from an instance's last heartbeat until watchers drop it
  (bounded by the lease TTL).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc

from bench.common import (
    ChildServices,
    LoadResult,
    closed_loop,
    dev_identity,
    emit,
    pct,
    state_dir,
)

ECHO = "lilo.echo.v1.EchoService"


async def measured(
    call: Callable[[], Awaitable[Any]], concurrency: int, duration: float
) -> tuple[LoadResult, float]:
    """``closed_loop`` plus this process's CPU microseconds per call (all threads)."""
    calls = 0

    def counted() -> Awaitable[Any]:
        nonlocal calls
        calls += 1
        return call()

    cpu = time.process_time()
    result = await closed_loop(counted, concurrency=concurrency, duration=duration)
    return result, (time.process_time() - cpu) / max(calls, 1) * 1e6


async def unary_cases(
    redis_url: str, token: str, addresses: list[str], args: argparse.Namespace
) -> None:
    md = [("authorization", f"Bearer {token}")]
    request = pb.EchoRequest(payload="x" * 32)
    # The raw channel is created before the mesh turns on OpenTelemetry, so it runs bare.
    raw_channel = aio.insecure_channel(
        "ipv4:" + ",".join(addresses), options=[("grpc.lb_policy_name", "round_robin")]
    )
    raw = pb_grpc.EchoServiceStub(raw_channel)

    from mesh.client import MeshClient
    from mesh.registry.redis import RedisRegistry

    registry = RedisRegistry.from_url(redis_url)
    client = MeshClient(registry)
    channel = client.channel(ECHO)
    await channel.wait_for_endpoints(len(addresses), timeout=10)
    mesh = pb_grpc.EchoServiceStub(channel)

    for concurrency in (1, 16, 64):
        ratios, raw_runs, mesh_runs, raw_cpu, mesh_cpu = [], [], [], [], []
        for round_no in range(args.rounds):
            sides = [("raw", raw), ("mesh", mesh)]
            if round_no % 2:
                sides.reverse()  # neither side always gets the warmer machine
            got: dict[str, tuple[LoadResult, float]] = {}
            for name, stub in sides:
                got[name] = await measured(
                    lambda stub=stub: stub.Echo(request, metadata=md),
                    concurrency,
                    args.duration,
                )
            (r, r_cpu), (m, m_cpu) = got["raw"], got["mesh"]
            raw_runs.append(r)
            mesh_runs.append(m)
            raw_cpu.append(r_cpu)
            mesh_cpu.append(m_cpu)
            ratios.append(m.qps / r.qps)
        best = sorted(range(len(ratios)), key=lambda i: ratios[i])[len(ratios) // 2]
        raw_p50 = statistics.median(x.p50_ms for x in raw_runs)
        mesh_p50 = statistics.median(x.p50_ms for x in mesh_runs)
        emit(
            {
                "bench": "mesh",
                "case": f"unary c{concurrency}",
                "baseline": "raw grpc.aio round_robin",
                "baseline_qps": round(raw_runs[best].qps),
                "qps": round(mesh_runs[best].qps),
                "ratio": round(statistics.median(ratios), 3),
                "ratio_worst": round(min(ratios), 3),
                "p50_ms": round(mesh_p50, 3),
                "p99_ms": round(statistics.median(x.p99_ms for x in mesh_runs), 3),
                "baseline_p50_ms": round(raw_p50, 3),
                "p50_added_us": round((mesh_p50 - raw_p50) * 1000, 1),
                "client_cpu_us": round(statistics.median(mesh_cpu), 1),
                "baseline_client_cpu_us": round(statistics.median(raw_cpu), 1),
                "client_cpu_added_us": round(
                    statistics.median(m - r for m, r in zip(mesh_cpu, raw_cpu, strict=True)), 1
                ),
                "errors": sum(x.errors for x in raw_runs + mesh_runs),
                "rounds": args.rounds,
            }
        )
    await client.close()
    await registry.close()
    await raw_channel.close()


async def discovery_cases(redis_url: str, args: argparse.Namespace) -> None:
    from mesh.registry import InstanceRecord
    from mesh.registry.redis import RedisRegistry

    prefix = f"bench{uuid.uuid4().hex[:6]}"
    writer = RedisRegistry.from_url(redis_url, prefix=prefix)
    watchers = [RedisRegistry.from_url(redis_url, prefix=prefix) for _ in range(args.watchers)]
    service = "lilo.bench.v1.BenchService"
    views: list[set[str]] = [set() for _ in watchers]
    changed = asyncio.Condition()

    async def follow(i: int, registry: RedisRegistry) -> None:
        async for snap in registry.watch(service):
            views[i] = {r.instance_id for r in snap.instances}
            async with changed:
                changed.notify_all()

    tasks = [asyncio.ensure_future(follow(i, w)) for i, w in enumerate(watchers)]

    async def until(predicate: object) -> float:
        async with changed:
            await changed.wait_for(lambda: all(predicate(v) for v in views))  # type: ignore[operator]
        return time.perf_counter()

    await until(lambda v: True)
    joins, leaves, crashes = [], [], []
    for n in range(args.discovery_rounds):
        rec = InstanceRecord(service=service, instance_id=f"i{n}", address=f"127.0.0.1:{20000 + n}")
        t = time.perf_counter()
        await writer.register(rec, ttl=5)
        joins.append((await until(lambda v, k=rec.instance_id: k in v)) - t)
        t = time.perf_counter()
        await writer.deregister(service, rec.instance_id)
        leaves.append((await until(lambda v, k=rec.instance_id: k not in v)) - t)
    ttl = args.crash_ttl
    for n in range(3):
        rec = InstanceRecord(service=service, instance_id=f"crash{n}", address="127.0.0.1:1")
        await writer.register(rec, ttl=ttl)
        await until(lambda v, k=rec.instance_id: k in v)
        t = time.perf_counter()  # the last heartbeat: the instance "crashes" now
        crashes.append((await until(lambda v, k=rec.instance_id: k not in v)) - t)
    for name, values in (("join", joins), ("leave", leaves)):
        emit(
            {
                "bench": "mesh",
                "case": f"discovery {name}",
                "watchers": args.watchers,
                "rounds": len(values),
                "p50_ms": round(pct(values, 50) * 1000, 3),
                "p99_ms": round(pct(values, 99) * 1000, 3),
                "goal_p99_ms": 50,
            }
        )
    emit(
        {
            "bench": "mesh",
            "case": "discovery crash",
            "lease_ttl_s": ttl,
            "watchers": args.watchers,
            "p50_ms": round(pct(crashes, 50) * 1000, 1),
            "p99_ms": round(pct(crashes, 99) * 1000, 1),
            "goal": "<= lease ttl",
        }
    )
    for task in tasks:
        task.cancel()
    for registry in (writer, *watchers):
        await registry.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench mesh")
    parser.add_argument("--quick", action="store_true")
    # More, shorter rounds: on a shared machine the median of 5 resists a noisy spell.
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--watchers", type=int, default=10)
    parser.add_argument("--discovery-rounds", type=int, default=100)
    parser.add_argument("--crash-ttl", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.discovery_rounds = 3, 1.0, 30

    from mesh.embedded import EmbeddedRedis

    state = state_dir()
    redis = EmbeddedRedis(state / "redis").start()
    jwks, token = dev_identity(state)
    children = ChildServices(
        {"REDIS_URL": redis.url, "LILO_JWKS_FILE": jwks, "PATH": __import__("os").environ["PATH"]}
    )
    try:
        addresses = children.start("services.echo", 2)
        asyncio.run(unary_cases(redis.url, token, addresses, args))
        asyncio.run(discovery_cases(redis.url, args))
    finally:
        children.stop()
        redis.stop()


if __name__ == "__main__":
    main()
