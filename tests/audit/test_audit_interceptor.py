"""When the mesh writes a PHI call's audit record, and what the caller sees if it fails.

Reads have their record written while the handler runs, but nothing of the call (not the
response, not the handler's error) leaves before the commit; writes are recorded before
their handler runs. A gated fake sink makes the interleaving observable without sleeps;
the real ``PostgresAuditSink`` covers the committed row and a dead database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import grpc
import pytest
from audit_helpers import KEYS
from grpc import aio
from lilo.chat.v1 import chat_service_pb2 as chat_pb
from lilo.chat.v1 import chat_service_pb2_grpc as chat_grpc

from mesh.audit_sink import PostgresAuditSink
from mesh.clock import FakeClock
from mesh.db import create_pool
from mesh.interceptors import AUDIT_REFUSAL, audit_runs_alongside
from mesh.policy import MethodPolicy, method_policy, service_descriptor
from mesh.status import NotFound
from mesh.testing import serve
from services.audit.writer import AuditWriter

CHAT = "/lilo.chat.v1.ChatService/"
SECRET_DAY = chat_pb.DailyConversationAnalytics(date="2025-01-01", total_messages=42)


class GatedSink:
    """An audit sink whose commit the test releases, successfully or not."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self._release = asyncio.Event()
        self._fail = False
        self.log: list[str] = []

    async def record_call(
        self, policy: MethodPolicy, principal: Any, request: Any, *, allowed: bool, reason: str
    ) -> None:
        self.log.append("audit started")
        self.started.set()
        await self._release.wait()
        if self._fail:
            self.log.append("audit failed")
            raise ConnectionError("audit database unreachable")
        self.log.append("audit committed")

    def commit(self) -> None:
        self._release.set()

    def fail(self) -> None:
        self._fail = True
        self._release.set()


class Chat(chat_grpc.ChatServiceServicer):
    """A read (GetDailyAnalytics) and a write (AppendMessage) that say when they ran."""

    def __init__(self, log: list[str], *, read_error: str = "") -> None:
        self.log = log
        self.read_error = read_error
        self.read_done = asyncio.Event()
        self.writes = 0

    async def GetDailyAnalytics(
        self, request: chat_pb.GetDailyAnalyticsRequest, context: Any
    ) -> chat_pb.GetDailyAnalyticsResponse:
        self.log.append("handler ran")
        self.read_done.set()
        if self.read_error == "raise":
            raise NotFound(f"resident {request.resident_id} has no conversations")
        if self.read_error == "abort":
            await context.abort(grpc.StatusCode.NOT_FOUND, "resident res-1 is unknown")
        return chat_pb.GetDailyAnalyticsResponse(days=[SECRET_DAY])

    async def AppendMessage(
        self, request: chat_pb.AppendMessageRequest, context: Any
    ) -> chat_pb.AppendMessageResponse:
        self.log.append("handler ran")
        self.writes += 1
        return chat_pb.AppendMessageResponse(alert_id="written")


READ = chat_pb.GetDailyAnalyticsRequest(
    resident_id="res-1", start_date="2025-01-01", end_date="2025-01-01"
)
WRITE = chat_pb.AppendMessageRequest(conversation_id="c-1", sender_id="u-1", content="hello")


@pytest.fixture
def sink() -> GatedSink:
    return GatedSink()


@asynccontextmanager
async def stub_for(servicer: Chat, audit: Any) -> AsyncIterator[chat_grpc.ChatServiceStub]:
    async with (
        serve([servicer], audit=audit) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield chat_grpc.ChatServiceStub(channel)


def declared_level(p: MethodPolicy) -> int:
    method = service_descriptor(p.service).methods_by_name[p.name]
    level: int = method.GetOptions().idempotency_level
    return level


# -- which rpcs may overlap their audit write with the handler ----------------------------


@pytest.mark.parametrize(
    ("path", "alongside"),
    [
        (CHAT + "GetDailyAnalytics", True),  # read, NO_SIDE_EFFECTS
        ("/lilo.memory.v1.MemoryService/GetMemory", True),  # read, level not declared
        ("/lilo.audit.v1.AuditService/QueryEvents", True),
        (CHAT + "AppendMessage", False),  # IDEMPOTENT is a write that is safe to repeat
        ("/lilo.memory.v1.MemoryService/DeleteMemory", False),  # IDEMPOTENT write
        ("/lilo.memory.v1.MemoryService/CreateMemory", False),  # write
        (CHAT + "WatchMessages", False),  # a read, but a stream can send before it returns
        ("/lilo.chat.v1.ChatHubService/Chat", False),
    ],
)
def test_only_unary_reads_are_audited_alongside_the_handler(path: str, alongside: bool) -> None:
    p = method_policy(path)
    assert p is not None and p.phi
    assert audit_runs_alongside(p, declared_level(p)) is alongside


# -- reads: audit and handler together, nothing released before the commit ---------------


async def test_read_runs_while_its_audit_commits_and_returns_only_after(sink: GatedSink) -> None:
    servicer = Chat(sink.log)
    async with stub_for(servicer, sink) as stub:
        call = asyncio.ensure_future(stub.GetDailyAnalytics(READ, timeout=10))
        await servicer.read_done.wait()
        await sink.started.wait()
        # The handler has run while the audit write is still open (in either order).
        assert sorted(sink.log) == ["audit started", "handler ran"]
        sink.commit()
        reply = await call
        sink.log.append("response received")
    assert list(reply.days) == [SECRET_DAY]
    assert sink.log[2:] == ["audit committed", "response received"]


async def test_read_whose_audit_fails_gets_unavailable_and_no_data(sink: GatedSink) -> None:
    servicer = Chat(sink.log)
    async with stub_for(servicer, sink) as stub:
        call = stub.GetDailyAnalytics(READ, timeout=10)
        await servicer.read_done.wait()  # the response is ready; the audit is not
        sink.fail()
        with pytest.raises(aio.AioRpcError) as caught:
            await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == AUDIT_REFUSAL
    assert sorted(sink.log[:2]) == ["audit started", "handler ran"]
    assert sink.log[2:] == ["audit failed"]


@pytest.mark.parametrize("how", ["raise", "abort"])
async def test_read_error_is_held_back_too_when_the_audit_fails(sink: GatedSink, how: str) -> None:
    """Even "not found" says something about a resident: it waits for the audit as well."""
    servicer = Chat(sink.log, read_error=how)
    async with stub_for(servicer, sink) as stub:
        call = stub.GetDailyAnalytics(READ, timeout=10)
        await servicer.read_done.wait()
        sink.fail()
        with pytest.raises(aio.AioRpcError) as caught:
            await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "res-1" not in (caught.value.details() or "")


async def test_read_error_after_a_committed_audit_reaches_the_caller(sink: GatedSink) -> None:
    servicer = Chat(sink.log, read_error="raise")
    sink.commit()
    async with stub_for(servicer, sink) as stub:
        with pytest.raises(aio.AioRpcError) as caught:
            await stub.GetDailyAnalytics(READ, timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "resident res-1 has no conversations"
    assert sorted(sink.log) == ["audit committed", "audit started", "handler ran"]


# -- writes: audit first, the handler only after the commit -------------------------------


async def test_write_runs_only_after_its_audit_committed(sink: GatedSink) -> None:
    servicer = Chat(sink.log)
    async with stub_for(servicer, sink) as stub:
        call = asyncio.ensure_future(stub.AppendMessage(WRITE, timeout=10))
        await sink.started.wait()
        assert servicer.writes == 0
        sink.commit()
        reply = await call
    assert reply.alert_id == "written"
    assert sink.log == ["audit started", "audit committed", "handler ran"]


async def test_write_whose_audit_fails_never_runs_its_handler(sink: GatedSink) -> None:
    servicer = Chat(sink.log)
    async with stub_for(servicer, sink) as stub:
        call = stub.AppendMessage(WRITE, timeout=10)
        await sink.started.wait()
        sink.fail()
        with pytest.raises(aio.AioRpcError) as caught:
            await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == AUDIT_REFUSAL
    assert servicer.writes == 0
    assert sink.log == ["audit started", "audit failed"]


# -- the real sink: a committed row per read, UNAVAILABLE when PostgreSQL is gone ---------


async def test_read_through_the_postgres_sink_is_committed_before_the_reply(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    sink = PostgresAuditSink(AuditWriter(pool, KEYS, clock=clock, linger=0.0), clock=clock)
    servicer = Chat([])
    async with stub_for(servicer, sink) as stub:
        replies = await asyncio.gather(
            *(stub.GetDailyAnalytics(READ, timeout=10) for _ in range(8))
        )
        # Committed means visible to another connection the moment the reply is here.
        rows = await pool.fetch(
            "SELECT resident_id, event_type, additional_context->>'rpc' AS rpc FROM audit.events"
        )
    await sink.close()
    assert all(list(r.days) == [SECRET_DAY] for r in replies)
    assert [dict(r) for r in rows] == [
        {"resident_id": "res-1", "event_type": "phi_access", "rpc": CHAT + "GetDailyAnalytics"}
    ] * 8


async def test_read_with_the_audit_database_gone_is_unavailable(
    fresh_database: str, clock: FakeClock
) -> None:
    dead = await create_pool(fresh_database)
    await dead.close()
    sink = PostgresAuditSink(AuditWriter(dead, KEYS, clock=clock, linger=0.0), clock=clock)
    servicer = Chat([])
    async with stub_for(servicer, sink) as stub:
        with pytest.raises(aio.AioRpcError) as caught:
            await stub.GetDailyAnalytics(READ, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == AUDIT_REFUSAL
