"""``scripts/bench crisis``: a CRITICAL chat message -> alert on N ``WatchAlerts`` streams.

Path measured (the one a chat message takes; the safety service only analyses, it is the
crisis service that raises the alert): the driver sends ``CrisisService.ScreenContent``
exactly as ``services.chat.core.CrisisScreener`` does (source "chat", the resident's own
JWT, through the mesh client); the crisis instance that gets it calls
``SafetyService.AnalyzeContent`` (a separate child process, through its mesh client, with
the resident's credentials propagated), commits the alert and its CREATED event to
PostgreSQL, publishes on Redis; every crisis instance fans the event out to its
``WatchAlerts`` streams, held by care staff (real JWT, caregiver of the resident) through
the mesh client in ``--clients`` worker processes. Latency = receipt at a watcher - the
moment the driver sent ScreenContent (CLOCK_MONOTONIC is one clock for all processes).
A watcher whose stream ends watches again from its last cursor, as a real consumer
would; such re-watches are counted (``stream_rewatches``), never hidden.

Baseline, same run, same worker processes, same N: a bare Redis PUBLISH from the driver
to N ``redis.asyncio`` subscribers (one connection each). Baseline and alert triggers
alternate; each waits until every watcher has it (workers report "DONE"), so deliveries
never overlap. One JSON line per N; headline ``p99_ms`` (over all watchers, alerts and
rounds), goal p99 <= 25 ms at N = 1000.

Servers: a private embedded Redis and PostgreSQL (``mesh.embedded``) in a temporary
directory, one safety and ``--instances`` crisis child processes; everything is stopped by
PID at the end. The crisis escalator is idled (``LILO_CRISIS_WORKER_S=3600``) so that only
the alerts' CREATED events are fanned out (its NOTIFIED events would land on the watchers
at random moments in between).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT, ChildServices, emit, pct, state_dir
from mesh.gctune import tune_gc

CRISIS = "lilo.crisis.v1.CrisisService"
RESIDENT = "res-bench"
ORG = "org-bench"
STAFF = "staff-bench"
CRITICAL_TEXT = "I am going to kill myself tonight, I have the pills ready"
BASELINE_CHANNEL = "bench:crisis:baseline"
GOAL_P99_MS = 25.0


def now() -> float:
    """One clock for every process on the machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def identities(state: Path) -> tuple[str, str, str]:
    """(JWKS path, resident token, care-staff token) signed by a fresh key set."""
    from mesh.identity.principal import PatientRelation, Principal, Role
    from mesh.identity.tokens import KeySet
    from mesh.runner import AUDIENCE, ISSUER

    keys = KeySet(ISSUER, AUDIENCE, time.time())
    path = state / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    resident = Principal.user(RESIDENT, Role.RESIDENT, organization_id=ORG, mfa=True)
    staff = Principal.user(
        STAFF,
        Role.CARE_STAFF,
        organization_id=ORG,
        relations=(PatientRelation(RESIDENT, "caregiver", "full"),),  # type: ignore[arg-type]
        mfa=True,
    )
    return str(path), keys.issue(resident, time.time()), keys.issue(staff, time.time())


# -- worker process: N/clients watch streams and as many Redis subscribers -------------------


async def worker(args: argparse.Namespace) -> None:
    import redis.asyncio as aioredis
    from grpc import aio
    from lilo.crisis.v1 import crisis_service_pb2 as pb
    from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc

    from mesh.background import raise_if_cancelling
    from mesh.client import MeshClient
    from mesh.registry import registry_from_url

    receipts: list[tuple[str, float]] = []
    counts: Counter[str] = Counter()

    def got(key: str) -> None:
        receipts.append((key, now()))
        counts[key] += 1
        if counts[key] == args.n:
            sys.stdout.write(f"DONE {key}\n")
            sys.stdout.flush()

    registry = registry_from_url(args.redis)
    client = MeshClient(registry)
    channel = client.channel(CRISIS)
    await channel.wait_for_endpoints(args.instances, timeout=30)
    stub = pb_grpc.CrisisServiceStub(channel)
    md = [("authorization", f"Bearer {os.environ['LILO_BENCH_TOKEN']}")]
    created = pb.ALERT_EVENT_TYPE_CREATED

    calls: list[Any] = []
    ended: Counter[str] = Counter()  # stream ends (then re-watched from the cursor), by why

    async def watch_one() -> None:
        """One watcher, as a real consumer: when its stream ends, it watches again from its
        last cursor (the feed's contract makes that gap- and duplicate-free)."""
        cursor = args.cursor
        while True:
            call = stub.WatchAlerts(pb.WatchAlertsRequest(resume_cursor=cursor), metadata=md)
            calls.append(call)
            try:
                async for response in call:
                    cursor = response.event.cursor
                    if response.event.type == created:
                        got(response.event.alert.alert_id)
                ended["returned"] += 1
            except asyncio.CancelledError:
                raise_if_cancelling()  # our own shutdown
                # The mesh client closed the channel under the call (discovery dropped
                # the instance for a moment): the call is cancelled locally, not resumed.
                ended["cancelled"] += 1
            except aio.AioRpcError as exc:
                ended[exc.code().name] += 1
            await asyncio.sleep(0.1)  # reconnect pacing

    # One connection per subscriber (the pool's default cap is 100).
    redis = aioredis.Redis.from_url(args.redis, max_connections=args.n + 10)

    async def subscribe_one() -> None:
        pubsub: Any = redis.pubsub()
        await pubsub.subscribe(BASELINE_CHANNEL)
        async for message in pubsub.listen():
            if message["type"] == "message":
                got(message["data"].decode())

    tasks = [asyncio.ensure_future(subscribe_one()) for _ in range(args.n)]
    tasks += [asyncio.ensure_future(watch_one()) for _ in range(args.n)]
    if not args.default_gc:
        tune_gc()  # as mesh.runner does for the services
    print("READY", flush=True)
    while True:
        command = (await asyncio.to_thread(sys.stdin.readline)).strip()
        failed = [t for t in tasks if t.done() and not t.cancelled() and t.exception()]
        if failed:
            print(f"FAILED {failed[0].exception()!r}", flush=True)
        if command == "REPORT":
            short = {k: c for k, c in counts.items() if c < args.n}
            if short:
                print(f"worker n{args.n}: short {short}", file=sys.stderr)
            resumes = sum(getattr(c, "resumes", 0) for c in calls)  # mesh client reconnects
            print(f"RESUMES {resumes}", flush=True)
            print("REWATCHES " + json.dumps(dict(ended)), flush=True)
            print("RECEIPTS " + json.dumps(receipts), flush=True)
            receipts = []
        else:  # EXIT or EOF
            break
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.close()
    await registry.close()
    await redis.aclose()


# -- driver ------------------------------------------------------------------------------


class Workers:
    """The client processes of one case, and what they report."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.done: Counter[str] = Counter()
        self._changed = asyncio.Event()
        self._receipts: asyncio.Queue[list[tuple[str, float]]] = asyncio.Queue()
        self._ready = 0
        self._readers: list[asyncio.Task[None]] = []
        self.failures: list[str] = []
        self.resumes: dict[int, int] = {}
        self.rewatches: dict[int, dict[str, int]] = {}

    async def start(self, sizes: list[int], argv: list[str], env: dict[str, str]) -> None:
        for n in sizes:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.crisis",
                "--worker",
                "--n",
                str(n),
                *argv,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024,
            )
            self.procs.append(proc)
            self._readers.append(asyncio.ensure_future(self._read(proc)))
        await self._until(lambda: self._ready == len(self.procs), 60)

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("DONE "):
                self.done[line[5:]] += 1
            elif line == "READY":
                self._ready += 1
            elif line.startswith("RECEIPTS "):
                self._receipts.put_nowait([(k, t) for k, t in json.loads(line[9:])])
            elif line.startswith("RESUMES "):
                self.resumes[proc.pid] = int(line[8:])
            elif line.startswith("REWATCHES "):
                self.rewatches[proc.pid] = json.loads(line[10:])
            elif line.startswith("FAILED "):
                self.failures.append(line[7:])
                print(f"worker {proc.pid}: {line}", file=sys.stderr)
            self._changed.set()

    async def _until(self, condition: Any, within: float) -> bool:
        deadline = now() + within
        while not condition():
            self._changed.clear()
            left = deadline - now()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def delivered(self, key: str, within: float) -> bool:
        """True once every worker reports that all its watchers received ``key``."""
        return await self._until(lambda: self.done[key] == len(self.procs), within)

    async def receipts(self) -> list[tuple[str, float]]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(b"REPORT\n")
            await proc.stdin.drain()
        out: list[tuple[str, float]] = []
        for _ in self.procs:
            out += await asyncio.wait_for(self._receipts.get(), 60)
        return out

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and proc.returncode is None:
                with contextlib.suppress(Exception):
                    proc.stdin.write(b"EXIT\n")
                    await proc.stdin.drain()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for reader in self._readers:
            reader.cancel()


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by the processes ``pids``, all their threads (Linux /proc).

    From ``schedstat`` (nanoseconds) rather than ``stat`` (10 ms ticks), so that the CPU
    of one trigger, a few milliseconds, can be told apart.
    """
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def split(n: int, parts: int) -> list[int]:
    parts = max(1, min(parts, n))
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


async def run_case(
    n: int,
    args: argparse.Namespace,
    urls: dict[str, str],
    resident_token: str,
    staff_token: str,
    crisis_pids: list[int],
    safety_pids: list[int],
) -> None:
    import asyncpg
    import redis.asyncio as aioredis
    from lilo.crisis.v1 import crisis_service_pb2 as pb
    from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc

    from mesh.client import MeshClient
    from mesh.registry import registry_from_url

    conn = await asyncpg.connect(urls["db"])
    cursor = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM crisis.events")
    await conn.close()
    redis = aioredis.Redis.from_url(urls["redis"])
    registry = registry_from_url(urls["redis"])
    client = MeshClient(registry)
    channel = client.channel(CRISIS)
    await channel.wait_for_endpoints(args.instances, timeout=30)
    stub = pb_grpc.CrisisServiceStub(channel)
    md = [("authorization", f"Bearer {resident_token}")]
    workers = Workers()
    sizes = split(n, args.clients)
    sent: dict[str, float] = {}
    call_ms: list[float] = []
    # CPU seconds spent between a trigger and its delivery to every watcher, by trigger
    # kind and process group (the idle gaps in between are not counted).
    cpu: dict[str, dict[str, float]] = {"alert": {}, "baseline": {}}
    lost = 0
    try:
        await workers.start(
            sizes,
            [
                "--redis",
                urls["redis"],
                "--cursor",
                str(cursor),
                "--instances",
                str(args.instances),
                *(["--default-gc"] if args.default_gc else []),
            ],
            dict(os.environ, LILO_BENCH_TOKEN=staff_token),  # not on a command line
        )
        deadline = now() + 180
        while True:  # every subscriber connected (they are not started in any order)
            subscribed = dict(await redis.pubsub_numsub(BASELINE_CHANNEL))
            if subscribed.get(BASELINE_CHANNEL.encode(), 0) >= n:
                break
            if now() > deadline:
                raise RuntimeError(f"only {subscribed} of {n} Redis subscribers connected")
            await asyncio.sleep(0.05)

        async def alert() -> str:
            t0 = now()
            response = await stub.ScreenContent(
                pb.ScreenContentRequest(resident_id=RESIDENT, content=CRITICAL_TEXT, source="chat"),
                metadata=md,
                timeout=10,
            )
            call_ms.append((now() - t0) * 1000)
            if any("in-process" in r for r in response.analysis.reasons):
                raise RuntimeError(f"safety service not used: {list(response.analysis.reasons)}")
            if not response.HasField("alert"):
                raise RuntimeError("ScreenContent raised no alert for a CRITICAL message")
            sent[response.alert.alert_id] = t0
            return str(response.alert.alert_id)

        published = 0

        async def baseline() -> str:
            nonlocal published
            published += 1
            key = f"baseline-{n}-{published}"
            sent[key] = now()
            await redis.publish(BASELINE_CHANNEL, key)
            return key

        # Warm-up: every stream (resumed from `cursor`) and subscriber delivers once.
        for trigger in (alert, baseline):
            key = await trigger()
            if not await workers.delivered(key, 120):
                raise RuntimeError(f"warm-up {key} not delivered to all {n} watchers")
        await workers.receipts()
        call_ms.clear()

        cpu_before = cpu_seconds(crisis_pids)
        groups = {
            "crisis": crisis_pids,
            "safety": safety_pids,
            "clients": [proc.pid for proc in workers.procs],
        }
        rounds: list[tuple[list[float], list[float]]] = []
        firsts: list[float] = []  # per alert: its first watcher (the create path alone)
        for _ in range(args.rounds):
            keys: dict[str, list[str]] = {"alert": [], "baseline": []}
            for _ in range(args.alerts):
                for name, trigger in (("baseline", baseline), ("alert", alert)):
                    used = {group: cpu_seconds(pids) for group, pids in groups.items()}
                    key = await trigger()
                    keys[name].append(key)
                    if not await workers.delivered(key, args.timeout):
                        lost += 1
                        print(f"late: {name} {key}", file=sys.stderr)
                    for group, pids in groups.items():
                        cpu[name][group] = (
                            cpu[name].get(group, 0.0) + cpu_seconds(pids) - used[group]
                        )
                    await asyncio.sleep(args.gap)  # spacing, not synchronisation
            got = await workers.receipts()
            by_key: dict[str, list[float]] = {}
            for key, at in got:
                by_key.setdefault(key, []).append((at - sent[key]) * 1000)
            firsts += [min(by_key[k]) for k in keys["alert"] if k in by_key]
            rounds.append(
                (
                    [ms for k in keys["alert"] for ms in by_key.get(k, [])],
                    [ms for k in keys["baseline"] for ms in by_key.get(k, [])],
                )
            )
        crisis_cpu = cpu_seconds(crisis_pids) - cpu_before
    finally:
        await workers.stop()
        await client.close()
        await registry.close()
        await redis.aclose()

    alerts = [ms for a, _ in rounds for ms in a]
    base = [ms for _, b in rounds for ms in b]
    round_p99 = [pct(a, 99) for a, _ in rounds]
    triggers = int(args.alerts) * int(args.rounds)

    def per_alert_ms(kind: str, group: str) -> float:
        return round(cpu[kind].get(group, 0.0) / triggers * 1000, 2)

    def per_delivery_us(kind: str, group: str) -> float:
        return round(cpu[kind].get(group, 0.0) / (triggers * n) * 1e6, 1)

    record: dict[str, Any] = {
        "bench": "crisis",
        "case": f"watchers n{n}",
        "path": "ScreenContent(chat) -> safety AnalyzeContent -> PG commit -> Redis -> WatchAlerts",
        "baseline": "bare Redis PUBLISH -> SUBSCRIBE",
        "watchers": n,
        "p50_ms": round(pct(alerts, 50), 2),
        "p99_ms": round(pct(alerts, 99), 2),
        "max_ms": round(max(alerts), 2),
        "baseline_p50_ms": round(pct(base, 50), 2),
        "baseline_p99_ms": round(pct(base, 99), 2),
        "round_p99_ms_median": round(statistics.median(round_p99), 2),
        "round_p99_ms_worst": round(max(round_p99), 2),
        "first_watcher_p50_ms": round(pct(firsts, 50), 2),
        "screen_call_p50_ms": round(pct(call_ms, 50), 2),
        "crisis_cpu_us_per_delivery": round(crisis_cpu / max(1, len(alerts)) * 1e6, 1),
        # Per trigger, from the trigger to its last delivery (see `cpu` above): where the
        # machine's two cores go. Clients = the watcher processes (gRPC streams for an
        # alert, Redis subscriptions for the baseline).
        "cpu_ms_per_alert": {g: per_alert_ms("alert", g) for g in groups},
        "cpu_ms_per_baseline_publish": {g: per_alert_ms("baseline", g) for g in groups},
        "client_cpu_us_per_delivery": per_delivery_us("alert", "clients"),
        "baseline_client_cpu_us_per_delivery": per_delivery_us("baseline", "clients"),
        "deliveries": len(alerts),
        "expected_deliveries": n * args.alerts * args.rounds,
        "late_over_timeout": lost,
        "stream_resumes": sum(workers.resumes.values()),
        "stream_rewatches": dict(sum((Counter(r) for r in workers.rewatches.values()), Counter())),
        "rounds": args.rounds,
        "alerts_per_round": args.alerts,
        "crisis_instances": args.instances,
        "client_processes": len(sizes),
        "client_gc": "default" if args.default_gc else "frozen, young threshold 10000",
    }
    if workers.failures:
        record["worker_failures"] = workers.failures[:3]
    if n >= 1000:
        record["goal_p99_ms"] = GOAL_P99_MS
        record["meets_goal"] = record["p99_ms"] <= GOAL_P99_MS
    emit(record)


async def run(
    args: argparse.Namespace,
    urls: dict[str, str],
    tokens: tuple[str, str],
    crisis_pids: list[int],
    safety_pids: list[int],
) -> None:
    for n in args.watchers:
        await run_case(n, args, urls, *tokens, crisis_pids, safety_pids)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench crisis")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--watchers", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=5, help="alerts per round")
    parser.add_argument("--instances", type=int, default=2, help="crisis instances")
    parser.add_argument("--clients", type=int, default=4, help="watcher client processes")
    parser.add_argument("--gap", type=float, default=0.05, help="idle seconds between triggers")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument(
        "--no-fsync", action="store_true", help="PostgreSQL without durable commits (diagnosis)"
    )
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="leave the client processes' garbage collector as CPython sets it",
    )
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--redis", default="", help=argparse.SUPPRESS)
    parser.add_argument("--cursor", default="0", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(worker(args))
        return
    if args.quick:
        args.alerts = 3

    from mesh.embedded import EmbeddedPostgres, EmbeddedRedis

    signal.signal(signal.SIGTERM, _interrupt)  # so `finally` stops every child by PID

    state = state_dir()
    jwks, resident_token, staff_token = identities(state)
    redis_server = EmbeddedRedis(state / "redis").start()
    postgres = EmbeddedPostgres(state / "postgres", durable=not args.no_fsync).start()
    children = ChildServices(
        {
            "PATH": os.environ["PATH"],
            "LILO_JWKS_FILE": jwks,
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": postgres.url,
            "LILO_LOG_LEVEL": "WARNING",
            "LILO_CRISIS_WORKER_S": "3600",
        }
    )
    try:
        children.start("services.safety", 1)
        children.start("services.crisis", args.instances)
        safety_pids = [children.procs[0].pid]
        crisis_pids = [proc.pid for proc in children.procs[1:]]
        urls = {"redis": redis_server.url, "db": postgres.url}
        asyncio.run(run(args, urls, (resident_token, staff_token), crisis_pids, safety_pids))
    finally:
        children.stop()
        postgres.stop()
        redis_server.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
