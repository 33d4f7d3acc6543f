"""``scripts/bench gateway``: what the generic REST gateway costs, and idle SSE streams.

Unary cases ``unary c1/c16/c64`` (one JSON line each). One echo backend (``services.echo``,
child process, auth on: every call carries a system-role bearer token that the backend
verifies) and four HTTP servers in front of it, each its own child process under the same
uvicorn settings (one worker, ``--loop`` loop, httptools, no access log):

* ``hand``: a hand-written Starlette handler for ``POST /v1/echo``: ``json_format`` parse,
  one ``grpc.aio`` call on a plain channel (the ``Authorization`` header forwarded),
  ``json_format.MessageToDict`` reply; what a team writes per rpc;
* ``hand_mesh``: the same handler calling through the mesh client (discovery, balancing,
  breaker, retry budget, metrics), as a hand-written hop inside this mesh would; the gateway
  against it (``ratio_to_hand_via_mesh``) is the cost of generic transcoding alone;
* ``gateway``: ``gateway_rest.app`` (route table from the ``google.api.http`` annotations,
  transcoding, mesh client with discovery, balancing and breakers, metrics, tracing hooks);
  the backend is found through an in-memory registry holding its address;
* ``plain``: a Starlette handler returning the same JSON with no gRPC hop (the ceiling).

The load comes from ``wrk`` (one thread, keep-alive connections = concurrency), which needs
far less CPU per request than the servers it drives; short runs, many rounds, the server
order reversed every other round, so each gateway run sits next to the hand-written run it
is compared with. ``ratio`` = gateway / hand QPS (median over rounds, ``ratio_worst`` the
lowest), ``ratio_to_plain_json`` = gateway / plain; also CPU time per request of each HTTP
server and of the backend. Goal: ratio >= 1.0. Results and analysis: docs/gateway.md.

SSE case ``sse idle 10000``: one gateway process holds N idle ``GET /v1/echo:stream`` SSE
streams (a broadcast variant of the echo servicer: each stream sends one message when it
opens, then waits for a wake-up ``Echo`` call naming its group). Reports the gateway's RSS
before and after, KiB per stream, and the latency from a wake-up call to each sampled
stream's SSE event while all N are open (``p99_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, ChildServices, dev_identity, emit, mesh_channel_to, pct, state_dir
from mesh.gctune import tune_gc

ECHO = "lilo.echo.v1.EchoService"
DEFAULT_GC_ENV = "LILO_BENCH_DEFAULT_GC"  # set: HTTP servers keep CPython's GC settings
UNARY_BODY = '{"payload":"hello gateway"}'
_NOFILE = 30_000


# -- child processes ------------------------------------------------------------------------


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, _NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError):  # not root: as far as the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _spawn(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m bench.gateway ARGS``; return it and the address on its READY line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.gateway", *args],
        cwd=ROOT,
        env=dict(env, PYTHONUNBUFFERED="1"),
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, line.split()[-1]
    raise RuntimeError(f"child {args} exited before it was ready")


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- the three HTTP servers -----------------------------------------------------------------


def _hand_app(backend: str, *, via_mesh: bool = False) -> Any:
    """The hand-written REST hop: what a team writes for one rpc, with the usual care.

    ``via_mesh``: the same handler calling through the mesh client (discovery, balancing,
    breaker, retry budget, metrics), as a hand-written hop inside this mesh would; it
    isolates what generic transcoding costs from what the mesh client costs.
    """
    import grpc
    from google.protobuf import json_format
    from grpc import aio
    from lilo.echo.v1 import echo_service_pb2 as pb
    from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    stub: dict[str, Any] = {}
    http_of = {grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.UNAUTHENTICATED: 401}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not via_mesh:
            channel = aio.insecure_channel(backend)
            stub["echo"] = pb_grpc.EchoServiceStub(channel)
            yield
            await channel.close()
            return
        async with mesh_channel_to(backend, ECHO) as mesh_channel:
            stub["echo"] = pb_grpc.EchoServiceStub(mesh_channel)
            yield

    async def echo(request: Request) -> JSONResponse:
        try:
            message = json_format.Parse(await request.body(), pb.EchoRequest())
        except json_format.ParseError as exc:
            return JSONResponse({"code": 3, "message": str(exc)}, status_code=400)
        auth = request.headers.get("authorization")
        metadata = (("authorization", auth),) if auth else ()
        try:
            reply = await stub["echo"].Echo(message, metadata=metadata, timeout=30)
        except aio.AioRpcError as exc:
            body = {"code": exc.code().value[0], "message": exc.details() or ""}
            return JSONResponse(body, status_code=http_of.get(exc.code(), 500))
        return JSONResponse(
            json_format.MessageToDict(reply, always_print_fields_with_no_presence=True)
        )

    return Starlette(routes=[Route("/v1/echo", echo, methods=["POST"])], lifespan=lifespan)


def _plain_app() -> Any:
    """The ceiling: the same JSON in and out, no gRPC hop."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        return JSONResponse({"payload": body.get("payload", ""), "instanceId": "echo-0"})

    return Starlette(routes=[Route("/v1/echo", echo, methods=["POST"])])


def _gateway_app(backend: str) -> Any:
    from gateway_rest.app import create_app
    from mesh.registry import InMemoryRegistry, InstanceRecord

    registry = InMemoryRegistry()
    app = create_app(registry=registry)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[None]:
        record = InstanceRecord(service=ECHO, instance_id="echo-0", address=backend)
        await registry.register(record, ttl=3600)
        async with inner(a):
            await app.state.gateway.mesh.channel(ECHO).wait_for_endpoints(1, timeout=10)
            yield

    app.router.lifespan_context = lifespan
    return app


async def _serve_http(kind: str, backend: str) -> None:
    import uvicorn

    apps: dict[str, Callable[[], Any]] = {
        "hand": lambda: _hand_app(backend),
        "hand_mesh": lambda: _hand_app(backend, via_mesh=True),
        "gateway": lambda: _gateway_app(backend),
        "plain": _plain_app,
    }
    server = uvicorn.Server(
        uvicorn.Config(
            apps[kind](),
            host="127.0.0.1",
            port=0,
            lifespan="on",
            http="httptools",
            access_log=False,
            log_level="warning",
            backlog=4096,
            timeout_graceful_shutdown=1,
        )
    )
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped before it listened")
        await asyncio.sleep(0.02)
    if not os.environ.get(DEFAULT_GC_ENV):
        tune_gc()  # as python -m gateway_rest does, for every kind alike
    port = server.servers[0].sockets[0].getsockname()[1]
    print(f"READY {kind} 127.0.0.1:{port}", flush=True)
    await task


def _run_loop(main: Any, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


# -- the broadcast backend for the SSE case -------------------------------------------------


def _broadcast_servicer() -> Any:
    from lilo.echo.v1 import echo_service_pb2 as pb

    from services.echo.servicer import EchoServicer

    class BroadcastEcho(EchoServicer):
        """EchoStream with payload ``wait:GROUP`` sends ``index 0`` at once, then one message
        per ``Echo(payload="wake:GROUP:TEXT")``, whose TEXT it carries."""

        def __init__(self) -> None:
            super().__init__("broadcast-0")
            self.groups: dict[str, set[asyncio.Queue[str]]] = {}

        async def Echo(self, request: Any, context: Any) -> Any:
            if request.payload.startswith("wake:"):
                _, group, text = request.payload.split(":", 2)
                waiters = self.groups.get(group, set())
                for queue in waiters:
                    queue.put_nowait(text)
                return pb.EchoResponse(payload=str(len(waiters)), instance_id=self.instance_id)
            return await super().Echo(request, context)

        async def EchoStream(self, request: Any, context: Any) -> Any:
            if not request.payload.startswith("wait:"):
                async for item in super().EchoStream(request, context):
                    yield item
                return
            group = request.payload[5:]
            queue: asyncio.Queue[str] = asyncio.Queue()
            self.groups.setdefault(group, set()).add(queue)
            try:
                yield pb.EchoStreamResponse(index=0, payload="open")
                index = 0
                while True:
                    text = await queue.get()
                    index += 1
                    yield pb.EchoStreamResponse(index=index, payload=text)
            finally:
                self.groups[group].discard(queue)

    return BroadcastEcho()


def _serve_broadcast_backend() -> None:
    from mesh.runner import run

    async def build(deps: Any) -> list[object]:
        return [_broadcast_servicer()]

    _raise_fd_limit()
    run("echo", build, default_port=0)  # prints "READY echo ADDRESS"


# -- the SSE client processes ---------------------------------------------------------------


async def _sse_client(address: str, count: int, sample: int, token: str) -> None:
    """Open ``count`` SSE streams (the first ``sample`` in group ``sample``), print ``OPEN``
    once each has its first event, then ``EVT <monotonic> <text>`` for every later event of a
    sampled stream. Ends when stdin closes."""
    host, port = address.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    settled = 0
    all_settled = asyncio.Event()
    failures: list[str] = []
    writers: list[asyncio.StreamWriter] = []
    # Connects in flight are bounded (no SYN flood, no accept-backlog drops): a slot is held
    # until its stream has delivered its first event.
    gate = asyncio.Semaphore(256)

    def settle(problem: str | None) -> None:
        nonlocal settled
        settled += 1
        if problem is not None:
            failures.append(problem)
        gate.release()
        if settled == count:
            all_settled.set()

    async def one(group: str) -> None:
        await gate.acquire()
        pending = True
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writers.append(writer)
            writer.write(
                (
                    f"GET /v1/echo:stream?payload=wait:{group} HTTP/1.1\r\nHost: {address}\r\n"
                    f"Accept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
                ).encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
            while True:
                line = await reader.readline()
                if not line:
                    raise RuntimeError("stream closed")
                if not line.startswith(b"data:"):
                    continue
                if pending:
                    pending = False
                    settle(None)
                elif group == "sample":
                    text = json.loads(line[5:])["payload"]
                    print(f"EVT {time.monotonic():.6f} {text}", flush=True)
        except Exception as exc:
            if pending:
                pending = False
                settle(repr(exc))

    tasks = [loop.create_task(one("sample" if i < sample else "idle")) for i in range(count)]
    await all_settled.wait()
    print(f"OPEN {settled - len(failures)} {len(failures)} {failures[:3]}", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the driver closes stdin
    for writer in writers:
        writer.close()
    for task in tasks:
        task.cancel()


# -- load -----------------------------------------------------------------------------------


def _wrk_script(token: str, directory: Path) -> Path:
    script = directory / "post.lua"
    script.write_text(
        f"""
wrk.method = "POST"
wrk.body = '{UNARY_BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, '
    .. '"p50_us": %.1f, "p99_us": %.1f}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""
    )
    return script


def _cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _wrk(
    address: str, script: Path, concurrency: int, seconds: float, pid: int, backend_pid: int
) -> dict[str, float]:
    """One closed-loop run; also the CPU time per request of the HTTP server and of the
    backend (load from the other tenants of the machine changes QPS more than it changes
    CPU per request)."""
    cpu_before, backend_before = _cpu_seconds(pid), _cpu_seconds(backend_pid)
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{address}/v1/echo",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON ") :])
    if raw["errors"] or raw["non_2xx"]:
        raise RuntimeError(f"wrk saw failures against {address}: {raw}")
    cpu = _cpu_seconds(pid) - cpu_before
    backend_cpu = _cpu_seconds(backend_pid) - backend_before
    return {
        "cpu_us_per_req": cpu / max(1, raw["requests"]) * 1e6,
        "backend_cpu_us_per_req": backend_cpu / max(1, raw["requests"]) * 1e6,
        "qps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
    }


def _same_json(addresses: dict[str, str], token: str) -> bool:
    """The hand-written hop and the gateway answer the same request with the same JSON."""
    import httpx

    bodies = {}
    for kind in ("hand", "hand_mesh", "gateway"):
        reply = httpx.post(
            f"http://{addresses[kind]}/v1/echo",
            content=UNARY_BODY,
            headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        )
        reply.raise_for_status()
        bodies[kind] = reply.json()
    return bool(bodies["hand"] == bodies["gateway"] == bodies["hand_mesh"])


def unary_cases(
    addresses: dict[str, str], pids: dict[str, int], token: str, args: argparse.Namespace
) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="lilo-bench-wrk-"))
    try:
        script = _wrk_script(token, scratch)
        identical = _same_json(addresses, token)
        kinds = ["hand", "hand_mesh", "gateway", "plain"]
        for kind in kinds:  # warm up: connections, caches, first-call imports
            _wrk(addresses[kind], script, 16, 1, pids[kind], pids["backend"])
        for concurrency in args.concurrency:
            runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
            for round_no in range(args.rounds):
                order = kinds if round_no % 2 == 0 else kinds[::-1]
                for kind in order:
                    runs[kind].append(
                        _wrk(
                            addresses[kind],
                            script,
                            concurrency,
                            args.duration,
                            pids[kind],
                            pids["backend"],
                        )
                    )
            ratios = [
                g["qps"] / h["qps"] for g, h in zip(runs["gateway"], runs["hand"], strict=True)
            ]
            to_hand_mesh = [
                g["qps"] / h["qps"] for g, h in zip(runs["gateway"], runs["hand_mesh"], strict=True)
            ]
            to_plain = [
                g["qps"] / p["qps"] for g, p in zip(runs["gateway"], runs["plain"], strict=True)
            ]

            def med(kind: str, key: str, runs: dict[str, list[dict[str, float]]] = runs) -> float:
                return round(statistics.median(r[key] for r in runs[kind]), 3)

            emit(
                {
                    "bench": "gateway",
                    "case": f"unary c{concurrency}",
                    "baseline": "hand-written Starlette + grpc.aio handler",
                    "ratio": round(statistics.median(ratios), 3),
                    "ratio_worst": round(min(ratios), 3),
                    "ratio_to_hand_via_mesh": round(statistics.median(to_hand_mesh), 3),
                    "ratio_to_hand_via_mesh_worst": round(min(to_hand_mesh), 3),
                    "ratio_to_plain_json": round(statistics.median(to_plain), 3),
                    "qps": round(med("gateway", "qps")),
                    "p50_ms": med("gateway", "p50_ms"),
                    "p99_ms": med("gateway", "p99_ms"),
                    "baseline_qps": round(med("hand", "qps")),
                    "baseline_p50_ms": med("hand", "p50_ms"),
                    "baseline_p99_ms": med("hand", "p99_ms"),
                    "plain_json_qps": round(med("plain", "qps")),
                    "plain_json_p50_ms": med("plain", "p50_ms"),
                    "plain_json_p99_ms": med("plain", "p99_ms"),
                    "cpu_us_per_req": med("gateway", "cpu_us_per_req"),
                    "baseline_cpu_us_per_req": med("hand", "cpu_us_per_req"),
                    "hand_via_mesh_qps": round(med("hand_mesh", "qps")),
                    "hand_via_mesh_cpu_us_per_req": med("hand_mesh", "cpu_us_per_req"),
                    "plain_json_cpu_us_per_req": med("plain", "cpu_us_per_req"),
                    "backend_cpu_us_per_req": med("gateway", "backend_cpu_us_per_req"),
                    "baseline_backend_cpu_us_per_req": med("hand", "backend_cpu_us_per_req"),
                    "same_json": identical,
                    "rounds": args.rounds,
                    "seconds_per_run": args.duration,
                    "client": "wrk -t1",
                    "loop": args.loop,
                    "http_server_gc": "default" if args.default_gc else "mesh.gctune",
                    "goal_ratio": 1.0,
                }
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- the SSE case ---------------------------------------------------------------------------


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def sse_case(env: dict[str, str], token: str, args: argparse.Namespace) -> None:
    import grpc
    from lilo.echo.v1 import echo_service_pb2 as pb
    from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc

    procs: list[subprocess.Popen[str]] = []
    try:
        backend_proc, backend = _spawn(["--broadcast-backend"], env)
        procs.append(backend_proc)
        gateway_proc, gateway = _spawn(["--serve", "gateway", backend, "--loop", args.loop], env)
        procs.append(gateway_proc)
        channel = grpc.insecure_channel(backend)
        wake = pb_grpc.EchoServiceStub(channel).Echo
        md = [("authorization", f"Bearer {token}")]
        # Warm the gateway's stream path (imports, first allocations) before measuring.
        clients = _open_streams(env, gateway, 50, 50, token, parts=1)
        _close_streams(clients)
        rss_before = _rss(gateway_proc.pid)
        started = time.perf_counter()
        clients = _open_streams(env, gateway, args.streams, args.sample, token, parts=2)
        open_seconds = time.perf_counter() - started
        rss_after = _rss(gateway_proc.pid)
        latencies: list[float] = []
        for event in range(args.events):
            sent = time.monotonic()
            reply = wake(pb.EchoRequest(payload=f"wake:sample:e{event}"), metadata=md)
            assert int(reply.payload) == args.sample, reply.payload
            arrivals = _collect(clients, f"e{event}", args.sample)
            latencies += [t - sent for t in arrivals]
        _close_streams(clients)
        channel.close()
        emit(
            {
                "bench": "gateway",
                "case": f"sse idle {args.streams}",
                "route": "GET /v1/echo:stream (SSE)",
                "streams": args.streams,
                "gateway_rss_before_mib": round(rss_before / 2**20, 1),
                "gateway_rss_after_mib": round(rss_after / 2**20, 1),
                "kib_per_stream": round((rss_after - rss_before) / args.streams / 1024, 1),
                "open_seconds": round(open_seconds, 1),
                "sampled_streams": args.sample,
                "events": args.events,
                "delivered": len(latencies),
                "p50_ms": round(pct(latencies, 50) * 1000, 2),
                "p99_ms": round(pct(latencies, 99) * 1000, 2),
                "loop": args.loop,
                "gateway_gc": "default" if args.default_gc else "mesh.gctune",
            }
        )
    finally:
        _stop(procs)


def _open_streams(
    env: dict[str, str], gateway: str, count: int, sample: int, token: str, *, parts: int
) -> list[subprocess.Popen[str]]:
    clients = []
    per = count // parts
    for part in range(parts):
        n = per if part < parts - 1 else count - per * (parts - 1)
        s = sample if part == 0 else 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.gateway", "--sse-client", gateway, str(n), str(s)],
            cwd=ROOT,
            env=dict(env, PYTHONUNBUFFERED="1", LILO_BENCH_TOKEN=token),
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        clients.append(proc)
    for proc in clients:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("OPEN ") or line.split()[2] != "0":
            _close_streams(clients)
            raise RuntimeError(f"SSE client could not open its streams: {line!r}")
    return clients


def _collect(clients: list[subprocess.Popen[str]], text: str, expected: int) -> list[float]:
    """Arrival times of event ``text`` on the sampled streams (all in the first client)."""
    arrivals: list[float] = []
    stdout = clients[0].stdout
    assert stdout is not None
    while len(arrivals) < expected:
        line = stdout.readline()
        if not line:
            raise RuntimeError("SSE client ended early")
        _, at, got = line.split()
        if got == text:
            arrivals.append(float(at))
    return arrivals


def _close_streams(clients: list[subprocess.Popen[str]]) -> None:
    for proc in clients:
        assert proc.stdin is not None
        proc.stdin.close()
    _stop(clients)


# -- entry ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench gateway")
    parser.add_argument("--quick", action="store_true")
    # Short runs, many rounds: other tenants of the machine come and go within seconds, and
    # each gateway run is paired with the hand-written run next to it.
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per load run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--skip-unary", action="store_true")
    parser.add_argument("--skip-sse", action="store_true")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="HTTP servers keep CPython's GC settings (no mesh.gctune), to measure what it does",
    )
    # Child roles (started by the benchmark itself).
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "BACKEND"))
    parser.add_argument("--broadcast-backend", action="store_true")
    parser.add_argument("--sse-client", nargs=3, metavar=("GATEWAY", "COUNT", "SAMPLE"))
    args = parser.parse_args(argv)

    if args.serve:
        _raise_fd_limit()
        kind, backend = args.serve
        _run_loop(_serve_http(kind, backend), args.loop)
        return
    if args.broadcast_backend:
        _serve_broadcast_backend()
        return
    if args.sse_client:
        _raise_fd_limit()
        address, count, sample = args.sse_client
        asyncio.run(_sse_client(address, int(count), int(sample), os.environ["LILO_BENCH_TOKEN"]))
        return

    if args.quick:
        args.rounds, args.duration, args.streams, args.events = 3, 1.0, 2_000, 3
    if shutil.which("wrk") is None and not args.skip_unary:
        sys.exit("wrk is missing: apt-get install -y wrk")
    state = state_dir()
    jwks, token = dev_identity(state)
    env = dict(os.environ, LILO_JWKS_FILE=jwks, LILO_LOG_LEVEL="WARNING")
    if args.default_gc:
        env[DEFAULT_GC_ENV] = "1"
    if not args.skip_unary:
        children = ChildServices(env)
        procs: list[subprocess.Popen[str]] = []
        try:
            (backend,) = children.start("services.echo", 1)
            addresses, pids = {}, {"backend": children.procs[0].pid}
            for kind in ("hand", "hand_mesh", "gateway", "plain"):
                proc, addresses[kind] = _spawn(["--serve", kind, backend, "--loop", args.loop], env)
                procs.append(proc)
                pids[kind] = proc.pid
            unary_cases(addresses, pids, token, args)
        finally:
            _stop(procs)
            children.stop()
    if not args.skip_sse:
        sse_case(env, token, args)
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
