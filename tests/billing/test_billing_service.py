"""BillingService through a real grpc.aio server and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.billing.v1 import billing_service_pb2 as pb
from lilo.billing.v1 import billing_service_pb2_grpc as pb_grpc

from mesh.clock import FakeClock
from mesh.testing import TestIdentity, serve
from services.billing.servicer import BillingServicer
from services.billing.store import BillingStore

EMBEDDING, GENERATION, SEARCH = 1, 2, 3


@asynccontextmanager
async def running(
    pool: asyncpg.Pool, access: Any = None, clock: FakeClock | None = None
) -> AsyncIterator[pb_grpc.BillingServiceStub]:
    servicer = BillingServicer(BillingStore(pool), clock=clock or FakeClock())
    async with (
        serve([servicer], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.BillingServiceStub(channel)


async def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


def ts(year: int, month: int, day: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime(year, month, day, tzinfo=UTC))
    return stamp


def usage(
    key: str, kind: int = GENERATION, qty: int = 2, when: Timestamp | None = None, user: str = "u1"
) -> pb.RecordUsageRequest:
    return pb.RecordUsageRequest(
        user_id=user, service_type=kind, quantity=qty, idempotency_key=key, occurred_at=when
    )


async def test_retries_never_bill_twice(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        first = await stub.RecordUsage(usage("k1"))
        assert not first.deduplicated and first.event.cost_micros == 4_000
        again = await stub.RecordUsage(usage("k1"))
        assert again.deduplicated and again.event == first.event

        # Concurrent retries of a new key: exactly one is stored, all answer the same event.
        answers = await asyncio.gather(*(stub.RecordUsage(usage("k2")) for _ in range(20)))
        assert sum(not a.deduplicated for a in answers) == 1
        assert len({a.event.event_id for a in answers}) == 1

        code, details = await code_of(stub.RecordUsage(usage("k1", qty=3)))
        assert code is grpc.StatusCode.ALREADY_EXISTS and "idempotency_key" in details
    count = await pool.fetchval("SELECT count(*) FROM billing.usage_events")
    assert count == 2


async def test_period_totals_and_listing(pool: asyncpg.Pool) -> None:
    clock = FakeClock(wall_start=datetime(2026, 12, 15, tzinfo=UTC).timestamp())
    async with running(pool, clock=clock) as stub:
        await stub.RecordUsage(usage("a", EMBEDDING, 10, ts(2026, 11, 1)))
        await stub.RecordUsage(usage("b", GENERATION, 2, ts(2026, 11, 2)))
        await stub.RecordUsage(usage("c", EMBEDDING, 5, ts(2026, 11, 30)))
        await stub.RecordUsage(usage("d", SEARCH, 1, ts(2026, 12, 1)))
        await stub.RecordUsage(usage("e", SEARCH, 1, ts(2026, 11, 3), user="u2"))
        now = await stub.RecordUsage(usage("f", SEARCH, 1))  # occurred_at unset: recorded time
        assert now.event.billing_period == "2026-12"

        totals = await stub.GetPeriodTotals(
            pb.GetPeriodTotalsRequest(user_id="u1", billing_period="2026-11")
        )
        assert [
            (t.service_type, t.event_count, t.quantity, t.cost_micros) for t in totals.totals
        ] == [
            (EMBEDDING, 2, 15, 1_500),
            (GENERATION, 1, 2, 4_000),
        ]
        assert totals.total_cost_micros == 5_500 and totals.currency_code == "USD"
        empty = await stub.GetPeriodTotals(
            pb.GetPeriodTotalsRequest(user_id="u1", billing_period="2025-01")
        )
        assert not empty.totals and empty.total_cost_micros == 0

        keys: list[str] = []
        token = ""
        while True:
            page = await stub.ListUsageEvents(
                pb.ListUsageEventsRequest(user_id="u1", page_size=2, page_token=token)
            )
            keys += [e.idempotency_key for e in page.events]
            token = page.next_page_token
            if not token:
                break
        assert keys == ["f", "d", "c", "b", "a"]  # newest first by occurred_at
        november_embeddings = await stub.ListUsageEvents(
            pb.ListUsageEventsRequest(
                user_id="u1", billing_period="2026-11", service_types=[EMBEDDING]
            )
        )
        assert [e.idempotency_key for e in november_embeddings.events] == ["c", "a"]


async def test_bad_input(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        for request, field in [
            (usage("k", qty=0), "quantity"),
            (usage("k", kind=0), "service_type"),
            (usage(""), "idempotency_key"),
        ]:
            code, details = await code_of(stub.RecordUsage(request))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and field in details
        code, details = await code_of(
            stub.GetPeriodTotals(pb.GetPeriodTotalsRequest(user_id="u1", billing_period="Nov 2026"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "billing_period" in details
        code, details = await code_of(
            stub.ListUsageEvents(pb.ListUsageEventsRequest(user_id="u1", page_size=-1))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "page_size" in details


async def test_permissions_through_real_access_controller(pool: asyncpg.Pool) -> None:
    identity = TestIdentity()
    u1 = identity.bearer("family_member", subject="u1")
    u2 = identity.bearer("family_member", subject="u2")
    resident = identity.bearer("resident", subject="res-1")
    async with running(pool, access=identity.access) as stub:
        assert not (await stub.RecordUsage(usage("k"), metadata=u1)).deduplicated
        listed = await stub.ListUsageEvents(pb.ListUsageEventsRequest(user_id="u1"), metadata=u1)
        assert len(listed.events) == 1
        # A user cannot read another user's billing.
        code, details = await code_of(
            stub.ListUsageEvents(pb.ListUsageEventsRequest(user_id="u1"), metadata=u2)
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED and "out_of_scope" in details
        code, _ = await code_of(
            stub.GetPeriodTotals(
                pb.GetPeriodTotalsRequest(user_id="u1", billing_period="2025-01"), metadata=u2
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED
        # ... nor bill them.
        code, _ = await code_of(stub.RecordUsage(usage("x", user="u1"), metadata=u2))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        # A resident reads their own billing but cannot record usage (billing.write).
        own = await stub.ListUsageEvents(
            pb.ListUsageEventsRequest(user_id="res-1"), metadata=resident
        )
        assert not own.events
        code, details = await code_of(stub.RecordUsage(usage("y", user="res-1"), metadata=resident))
        assert code is grpc.StatusCode.PERMISSION_DENIED and "no_permission" in details
