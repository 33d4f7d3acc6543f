"""AuditService over gRPC: append, RBAC-filtered query, chain verification on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from audit_helpers import KEYS
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.audit.v1 import audit_service_pb2 as pb
from lilo.audit.v1 import audit_service_pb2_grpc as pb_grpc
from lilo.auth.v1 import auth_service_pb2 as auth_pb

from mesh.audit_sink import PostgresAuditSink
from mesh.clock import FakeClock
from mesh.testing import TestIdentity, serve
from services.audit.servicer import AuditServicer
from services.audit.writer import AuditWriter


def event(i: int, actor: str, resident: str = "res-1", **kw: object) -> pb.AuditEvent:
    return pb.AuditEvent(
        audit_id=f"ev-{i}",
        actor_user_id=actor,
        actor_role=auth_pb.ROLE_HEALTH_PROVIDER,
        event_type="phi_access",
        action="read",
        resource="phi",
        resident_id=resident,
        phi_accessed=True,
        outcome=pb.AUDIT_OUTCOME_ALLOWED,
        occurred_at=Timestamp(seconds=1_735_689_600 + i, nanos=123_456_789),
        additional_context={"rpc": "/lilo.x.v1.X/Y"},
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def open_stub(
    pool: asyncpg.Pool, clock: FakeClock
) -> AsyncIterator[pb_grpc.AuditServiceStub]:
    """A server admitting every call (AppendEvents is for mTLS services; VerifyChain's
    'verify' action is not in the RBAC action set yet)."""
    servicer = AuditServicer(pool, AuditWriter(pool, KEYS, clock=clock))
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        yield pb_grpc.AuditServiceStub(channel)


async def test_append_returns_chain_fields_and_is_idempotent(
    open_stub: pb_grpc.AuditServiceStub,
) -> None:
    resp = await open_stub.AppendEvents(
        pb.AppendEventsRequest(events=[event(1, "doc-1"), event(2, "doc-2")])
    )
    a, b = resp.events
    assert (a.sequence, b.sequence) == (1, 2) and a.partition == "2025-01-01"
    assert a.prev_hash == "" and b.prev_hash == a.integrity_hash and len(a.integrity_hash) == 64
    assert a.occurred_at.nanos == 123_456_000  # microseconds, as stored and sealed
    again = await open_stub.AppendEvents(pb.AppendEventsRequest(events=[event(1, "doc-9")]))
    assert again.events[0] == a
    with pytest.raises(aio.AioRpcError) as err:
        await open_stub.AppendEvents(pb.AppendEventsRequest(events=[pb.AuditEvent(audit_id="x")]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events[0].actor_user_id" in (err.value.details() or "")


async def test_verify_chain_reports_tampering(
    open_stub: pb_grpc.AuditServiceStub, pool: asyncpg.Pool
) -> None:
    await open_stub.AppendEvents(
        pb.AppendEventsRequest(events=[event(i, "doc-1") for i in range(1, 6)])
    )
    ok = await open_stub.VerifyChain(pb.VerifyChainRequest(partition="2025-01-01"))
    assert ok.ok and ok.checked_events == 5 and ok.head_sequence == 5 and ok.head_hash
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE audit.events SET resident_id = 'res-9' WHERE sequence = 2")
        await conn.execute("DELETE FROM audit.events WHERE sequence = 4")
    bad = await open_stub.VerifyChain(pb.VerifyChainRequest(partition="2025-01-01"))
    assert not bad.ok and bad.checked_events == 4
    assert [(v.sequence, v.kind) for v in bad.violations] == [
        (2, pb.CHAIN_VIOLATION_KIND_EDITED),
        (4, pb.CHAIN_VIOLATION_KIND_DELETED),
    ]
    with pytest.raises(aio.AioRpcError) as err:
        await open_stub.VerifyChain(pb.VerifyChainRequest())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_query_is_filtered_by_rbac_and_itself_audited(
    pool: asyncpg.Pool, clock: FakeClock, open_stub: pb_grpc.AuditServiceStub
) -> None:
    await open_stub.AppendEvents(
        pb.AppendEventsRequest(
            events=[
                event(1, "doc-1", "res-1"),
                event(2, "doc-2", "res-2"),
                event(3, "doc-1", "res-2"),
                event(4, "doc-2", "res-1"),
            ]
        )
    )
    ident = TestIdentity(clock=clock)
    writer = AuditWriter(pool, KEYS, clock=clock)
    sink = PostgresAuditSink(writer, clock=clock)
    async with (
        serve([AuditServicer(pool, writer)], access=ident.access, audit=sink) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.AuditServiceStub(channel)
        # A provider (own_actions) sees only what they did, whatever they ask for.
        # (resource="phi": the query itself is audited first, under resource audit_logs)
        mine = await stub.QueryEvents(
            pb.QueryEventsRequest(resource="phi"),
            metadata=ident.bearer("health_provider", "doc-1"),
        )
        assert [e.audit_id for e in mine.events] == ["ev-3", "ev-1"]  # newest first
        theirs = await stub.QueryEvents(
            pb.QueryEventsRequest(actor_user_id="doc-2"),
            metadata=ident.bearer("health_provider", "doc-1"),
        )
        assert list(theirs.events) == []
        # A resident sees who touched their records (accounting of disclosures).
        disclosures = await stub.QueryEvents(
            pb.QueryEventsRequest(resource="phi"),
            metadata=ident.bearer("resident", "res-1", mfa=False),
        )
        assert [e.audit_id for e in disclosures.events] == ["ev-4", "ev-1"]
        # An admin pages through everything.
        admin = ident.bearer("admin", "adm-1")
        page = await stub.QueryEvents(pb.QueryEventsRequest(page_size=3), metadata=admin)
        rest = await stub.QueryEvents(
            pb.QueryEventsRequest(page_size=3, page_token=page.next_page_token), metadata=admin
        )
        ids = [e.audit_id for e in page.events] + [e.audit_id for e in rest.events]
        assert ids[:4] == ["ev-4", "ev-3", "ev-2", "ev-1"]  # then the audit of these queries
        with pytest.raises(aio.AioRpcError) as err:
            await stub.AppendEvents(pb.AppendEventsRequest(events=[event(9, "x")]), metadata=admin)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await sink.close()
    audited = await pool.fetch(
        "SELECT actor_user_id FROM audit.events WHERE event_type = 'phi_access'"
        " AND additional_context->>'rpc' LIKE '%QueryEvents'"
    )
    assert sorted(r["actor_user_id"] for r in audited) == [
        "adm-1",
        "adm-1",
        "doc-1",
        "doc-1",
        "res-1",
    ]
    denied = await pool.fetchval(
        "SELECT count(*) FROM audit.events"
        " WHERE event_type = 'access_denied' AND outcome = 'DENIED'"
    )
    assert denied == 1
