"""``scripts/bench auth``: what authentication, RBAC and audit cost on a unary PHI call.

Three child processes serve the same two real contract rpcs (trivial handlers, so the
figure is the interceptor's cost, not a handler's) behind the same ``MeshServer``:

* ``on``: production identity path. ``TokenAccessController`` verifying Ed25519 JWTs
  from the JWKS file (``ReloadingVerifier``, as ``mesh.runner`` builds it), live facts
  from PostgreSQL (``PgAccessFacts``) and the mesh audit sink exactly as services install
  it (``mesh.audit_sink.install``: batched ``AuditWriter``, hash-chained rows committed
  to PostgreSQL before the response is released; both rpcs only read, so the handler
  runs while the audit record is being written).
* ``noaudit``: the same without the audit sink (to show what the audit commit costs).
* ``off``: ``AllowAll`` and no audit (the baseline).

Cases (each a JSON line), for concurrency 1, 16 and 64:

* ``provider c*``: ``ChatService/GetDailyAnalytics`` (``conversations.read``, PHI,
  ``resident_field``) by a health provider with an assigned-patient relation in the token.
* ``family c*``: ``MemoryService/ListMemories`` (``memories.read``, PHI) by a family member
  under ``consented_access``: the relation comes from the token, the live consent grant
  from PostgreSQL on every call.

Rounds alternate off/on/noaudit; ``ratio`` = median on/off QPS, ``ratio_worst`` the worst
round, ``ratio_without_audit`` = median noaudit/off. PostgreSQL is a private embedded
server with fsync on (``durable=True``), so every audit commit is a real flush.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from grpc import aio
from lilo.chat.v1 import chat_service_pb2 as chat_pb
from lilo.chat.v1 import chat_service_pb2_grpc as chat_grpc
from lilo.memory.v1 import memory_service_pb2 as memory_pb
from lilo.memory.v1 import memory_service_pb2_grpc as memory_grpc

from bench.common import ChildServices, LoadResult, closed_loop, emit, env_with, state_dir

RESIDENT = "res-1"
PROVIDER = "prov-1"
FAMILY = "fam-1"
AUDIT_KEY = "bench-audit-hmac-key-of-at-least-32-bytes"
MODES = ("off", "on", "noaudit")
SERVE_ENV = "LILO_BENCH_AUTH_SERVE"
CONSENT_MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "consent" / "migrations"


# --- the child server ----------------------------------------------------------------


class Analytics(chat_grpc.ChatServiceServicer):
    async def GetDailyAnalytics(
        self, request: chat_pb.GetDailyAnalyticsRequest, context: Any
    ) -> chat_pb.GetDailyAnalyticsResponse:
        return chat_pb.GetDailyAnalyticsResponse()


class Memories(memory_grpc.MemoryServiceServicer):
    async def ListMemories(
        self, request: memory_pb.ListMemoriesRequest, context: Any
    ) -> memory_pb.ListMemoriesResponse:
        return memory_pb.ListMemoriesResponse()


async def serve(mode: str) -> None:
    from mesh import audit_sink
    from mesh.access import TokenAccessController
    from mesh.clock import SystemClock
    from mesh.config import ServerConfig
    from mesh.db import create_pool
    from mesh.facts import PgAccessFacts
    from mesh.registry import InMemoryRegistry
    from mesh.runner import load_verifier
    from mesh.server import MeshServer
    from mesh.testing import AllowAll

    clock = SystemClock()
    access: Any = AllowAll()
    audit: Any = None
    pool = None
    if mode != "off":
        pool = await create_pool(os.environ["DATABASE_URL"], max_size=10)
        access = TokenAccessController(
            verifier=load_verifier(), facts=PgAccessFacts(pool, clock), clock=clock
        )
        if mode == "on":
            deps = SimpleNamespace(db=pool, clock=clock, name="bench-auth", extras={})
            audit = await audit_sink.install(deps)
    server = MeshServer(
        [Analytics(), Memories()],
        registry=InMemoryRegistry(),
        access=access,
        audit=audit,
        config=ServerConfig(host="127.0.0.1", port=0, lease_ttl=30.0, drain_grace=0.5),
    )
    await server.start()
    print(f"READY bench-auth-{mode} {server.address}", flush=True)
    try:
        await server.wait_stopped()
    finally:
        if pool is not None:
            await pool.close()


def serve_main(mode: str) -> None:
    """Serve ``mode`` on the event loop the services run on (``mesh.eventloop``)."""
    import signal

    from mesh import eventloop

    async def main() -> None:
        task = asyncio.ensure_future(serve(mode))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    eventloop.run(main)


# --- the load generator --------------------------------------------------------------


async def prepare_database(url: str) -> None:
    """Consent and audit schemas, plus the family member's live consent grant."""
    from mesh.audit_sink import AUDIT_MIGRATIONS
    from mesh.db import create_pool, migrate

    consent_migrations = CONSENT_MIGRATIONS
    pool = await create_pool(url, max_size=2)
    try:
        await migrate(pool, "consent", consent_migrations)
        await migrate(pool, "audit", AUDIT_MIGRATIONS)
        await pool.execute(
            """INSERT INTO consent.grants (consent_id, resident_id, grantee_id, data_category,
                   granted_by, grantor_kind, status, granted_at)
               VALUES ('c-bench', $1, $2, 'conversations', $1, 'resident', 'active', now())
               ON CONFLICT DO NOTHING""",
            RESIDENT,
            FAMILY,
        )
    finally:
        await pool.close()


def write_identity(state: Path) -> tuple[str, dict[str, str]]:
    """A JWKS file for the servers and real signed tokens for the two callers."""
    import json

    from mesh.identity.principal import PatientRelation, Principal, Role
    from mesh.identity.tokens import KeySet
    from mesh.runner import AUDIENCE, ISSUER

    keys = KeySet(ISSUER, AUDIENCE, time.time())
    path = state / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    provider = Principal.user(
        PROVIDER,
        Role.HEALTH_PROVIDER,
        organization_id="org-bench",
        relations=(PatientRelation(RESIDENT, "provider", "full"),),  # type: ignore[arg-type]
        mfa=True,
    )
    family = Principal.user(
        FAMILY,
        Role.FAMILY_MEMBER,
        organization_id="org-bench",
        relations=(PatientRelation(RESIDENT, "family", "full"),),  # type: ignore[arg-type]
    )
    ttl = keys.max_ttl
    return str(path), {
        "provider": keys.issue(provider, time.time(), ttl),
        "family": keys.issue(family, time.time(), ttl),
    }


def call_for(case: str, channel: aio.Channel, token: str) -> Any:
    md = (("authorization", f"Bearer {token}"),)
    if case == "provider":
        stub = chat_grpc.ChatServiceStub(channel)
        chat_req = chat_pb.GetDailyAnalyticsRequest(
            resident_id=RESIDENT, start_date="2026-01-01", end_date="2026-01-07"
        )
        return lambda: stub.GetDailyAnalytics(chat_req, metadata=md)
    memories = memory_grpc.MemoryServiceStub(channel)
    mem_req = memory_pb.ListMemoriesRequest(user_id=RESIDENT, page_size=10)
    return lambda: memories.ListMemories(mem_req, metadata=md)


async def load(addresses: dict[str, str], tokens: dict[str, str], args: argparse.Namespace) -> None:
    channels = {mode: aio.insecure_channel(addr) for mode, addr in addresses.items()}
    try:
        for case in ("provider", "family"):
            calls = {m: call_for(case, channels[m], tokens[case]) for m in MODES}
            for mode in MODES:  # an allowed call proves the set-up before measuring
                await calls[mode]()
            for concurrency in (1, 16, 64):
                runs: dict[str, list[LoadResult]] = {m: [] for m in MODES}
                for _ in range(args.rounds):
                    for mode in MODES:
                        runs[mode].append(
                            await closed_loop(
                                calls[mode], concurrency=concurrency, duration=args.duration
                            )
                        )
                emit(record(case, concurrency, runs, args.rounds))
    finally:
        for channel in channels.values():
            await channel.close()


def record(
    case: str, concurrency: int, runs: dict[str, list[LoadResult]], rounds: int
) -> dict[str, Any]:
    off, on, noaudit = runs["off"], runs["on"], runs["noaudit"]
    ratios = [b.qps / a.qps for a, b in zip(off, on, strict=True)]
    ratios_noaudit = [b.qps / a.qps for a, b in zip(off, noaudit, strict=True)]
    mid = sorted(range(len(ratios)), key=lambda i: ratios[i])[len(ratios) // 2]

    def med(values: list[LoadResult], key: str) -> float:
        return round(float(statistics.median(float(getattr(v, key)) for v in values)), 3)

    rpc = (
        "ChatService/GetDailyAnalytics provider->assigned resident"
        if case == "provider"
        else "MemoryService/ListMemories family->resident, live consent"
    )
    return {
        "bench": "auth",
        "case": f"{case} c{concurrency}",
        "rpc": rpc,
        "baseline": "same server, AllowAll, no audit",
        "audit_sink": "mesh.audit_sink (AuditWriter -> PostgreSQL, fsync on)",
        "baseline_qps": round(off[mid].qps),
        "qps": round(on[mid].qps),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_worst": round(min(ratios), 3),
        "ratio_without_audit": round(statistics.median(ratios_noaudit), 3),
        "p50_ms": med(on, "p50_ms"),
        "p99_ms": med(on, "p99_ms"),
        "baseline_p50_ms": med(off, "p50_ms"),
        "baseline_p99_ms": med(off, "p99_ms"),
        "noaudit_p50_ms": med(noaudit, "p50_ms"),
        "errors": sum(x.errors for v in runs.values() for x in v),
        "rounds": rounds,
    }


def main() -> None:
    mode = os.environ.get(SERVE_ENV)
    if mode:
        serve_main(mode)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=None)
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 0.8 if args.quick else 2.0

    from mesh.embedded import EmbeddedPostgres

    state = state_dir()
    postgres = EmbeddedPostgres(state / "postgres", durable=True)
    postgres.start()
    children: ChildServices | None = None
    try:
        asyncio.run(prepare_database(postgres.url))
        jwks, tokens = write_identity(state)
        children = ChildServices(
            env_with(
                DATABASE_URL=postgres.url,
                LILO_JWKS_FILE=jwks,
                LILO_AUDIT_HMAC_KEY=AUDIT_KEY,
                LILO_LOG_LEVEL="WARNING",
            )
        )
        addresses = {m: children.start("bench.auth", 1, {SERVE_ENV: m})[0] for m in MODES}
        asyncio.run(load(addresses, tokens, args))
    finally:
        if children is not None:
            children.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
