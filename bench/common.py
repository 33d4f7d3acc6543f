"""Shared benchmark plumbing: servers as child processes, load loops, percentiles, output.

Every benchmark prints one JSON object per case (see ../shared/BENCHMARKS.md):
headline ``ratio`` (ours / baseline, measured in the same run) or ``p99_ms``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class LoadResult:
    qps: float
    p50_ms: float
    p99_ms: float
    errors: int


async def closed_loop(
    call: Callable[[], Awaitable[Any]], *, concurrency: int, duration: float
) -> LoadResult:
    """``concurrency`` workers call back to back for ``duration`` seconds."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t)

    # Warm up connections before the clock starts counting.
    for _ in range(min(concurrency, 8)):
        await call()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return LoadResult(
        qps=len(latencies) / elapsed,
        p50_ms=pct(latencies, 50) * 1000,
        p99_ms=pct(latencies, 99) * 1000,
        errors=errors,
    )


class ChildServices:
    """Service instances as child processes, stopped by PID at the end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen[str]] = []
        self.addresses: list[str] = []

    def start(self, module: str, count: int, extra: dict[str, str] | None = None) -> list[str]:
        out = []
        for i in range(count):
            env = dict(
                self.env,
                LILO_PORT="0",
                LILO_INSTANCE_ID=f"{module.split('.')[-1]}-{i}",
                PYTHONUNBUFFERED="1",
                **(extra or {}),
            )
            proc = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            self.procs.append(proc)
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("READY "):
                    out.append(line.split()[-1])
                    break
            else:
                raise RuntimeError(f"{module} exited before it was ready")
        self.addresses += out
        return out

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def dev_identity(state: Path) -> tuple[str, str]:
    """Write a JWKS for child services and return (jwks path, a system-role bearer token)."""
    from mesh.identity.principal import Principal, Role
    from mesh.identity.tokens import KeySet
    from mesh.runner import AUDIENCE, ISSUER

    keys = KeySet(ISSUER, AUDIENCE, time.time())
    path = state / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    token = keys.issue(
        Principal.user("bench", Role.SYSTEM, organization_id="bench", mfa=True), time.time()
    )
    return str(path), token


def state_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="lilo-bench-"))


def summarize(ratios: list[float]) -> dict[str, float]:
    return {"ratio": round(statistics.median(ratios), 3), "ratio_worst": round(min(ratios), 3)}


def env_with(**kw: str) -> dict[str, str]:
    return dict(os.environ, **kw)


@asynccontextmanager
async def mesh_channel_to(address: str, service: str) -> AsyncIterator[Any]:
    """A mesh client's channel to one known ``address`` (an in-memory registry holds it)."""
    from mesh.client import MeshClient
    from mesh.registry import InMemoryRegistry, InstanceRecord

    registry = InMemoryRegistry()
    await registry.register(
        InstanceRecord(service=service, instance_id="bench-0", address=address), ttl=3600
    )
    client = MeshClient(registry)
    try:
        channel = client.channel(service)
        await channel.wait_for_endpoints(1, timeout=10)
        yield channel
    finally:
        await client.close()
        await registry.close()
