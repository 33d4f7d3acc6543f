"""SubscriptionService through a real grpc.aio server, PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.subscription.v1 import subscription_service_pb2 as pb
from lilo.subscription.v1 import subscription_service_pb2_grpc as pb_grpc

from mesh.cache import CacheConfig, TwoTierCache
from mesh.clock import FakeClock
from mesh.testing import TestIdentity, serve
from services.subscription.servicer import SubscriptionServicer
from services.subscription.store import SubscriptionStore

TRIAL, ACTIVE, PAST_DUE, CANCELLED = 1, 2, 3, 4
SUCCEEDED, FAILED = 1, 2
DAY = 86400.0


@asynccontextmanager
async def running(
    pool: asyncpg.Pool, clock: FakeClock, access: Any = None, cache: TwoTierCache | None = None
) -> AsyncIterator[pb_grpc.SubscriptionServiceStub]:
    servicer = SubscriptionServicer(SubscriptionStore(pool), cache=cache, clock=clock)
    async with (
        serve([servicer], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.SubscriptionServiceStub(channel)


async def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


def at(clock: FakeClock) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(int(clock.wall()))
    return stamp


def payment(sid: str, ref: str, outcome: int, clock: FakeClock) -> pb.RecordPaymentRequest:
    return pb.RecordPaymentRequest(
        subscription_id=sid,
        payment_reference=ref,
        outcome=outcome,
        amount_micros=9_990_000,
        currency_code="USD",
        occurred_at=at(clock),
    )


async def test_plans_are_ordered_by_price(pool: asyncpg.Pool) -> None:
    async with running(pool, FakeClock()) as stub:
        plans = (await stub.ListPlans(pb.ListPlansRequest())).plans
        assert [p.plan_id for p in plans] == ["basic", "family", "family-yearly"]
        assert plans[0].trial_period.seconds == 14 * 86400
        everything = (await stub.ListPlans(pb.ListPlansRequest(include_unavailable=True))).plans
        assert everything[0].plan_id == "legacy" and not everything[0].available


async def test_life_cycle_trial_past_due_active_cancel(
    pool: asyncpg.Pool, redis_db_url: str
) -> None:
    clock = FakeClock()
    client = aioredis.Redis.from_url(redis_db_url)
    cache = TwoTierCache(client, CacheConfig(name="subscription"), clock=clock)
    await cache.start()
    try:
        async with running(pool, clock, cache=cache) as stub:
            create = pb.CreateSubscriptionRequest(
                user_id="u1", plan_id="basic", start_trial=True, idempotency_key="k1"
            )
            sub = (await stub.CreateSubscription(create)).subscription
            assert sub.state == TRIAL and sub.HasField("trial_ends_at")
            retried = (await stub.CreateSubscription(create)).subscription
            assert retried.subscription_id == sub.subscription_id  # idempotent

            got = (await stub.GetSubscription(pb.GetSubscriptionRequest(user_id="u1"))).subscription
            assert got.state == TRIAL  # now cached

            clock.advance(14 * DAY)
            failed = await stub.RecordPayment(payment(sub.subscription_id, "pay-1", FAILED, clock))
            assert failed.subscription.state == PAST_DUE and not failed.deduplicated
            # The write invalidated the cache: the read sees PAST_DUE at once.
            got = (await stub.GetSubscription(pb.GetSubscriptionRequest(user_id="u1"))).subscription
            assert got.state == PAST_DUE and got.HasField("past_due_since")

            clock.advance(DAY)
            paid = await stub.RecordPayment(payment(sub.subscription_id, "pay-2", SUCCEEDED, clock))
            assert paid.subscription.state == ACTIVE
            assert not paid.subscription.HasField("past_due_since")
            again = await stub.RecordPayment(
                payment(sub.subscription_id, "pay-2", SUCCEEDED, clock)
            )
            assert again.deduplicated and again.subscription == paid.subscription
            code, details = await code_of(
                stub.RecordPayment(payment(sub.subscription_id, "pay-2", FAILED, clock))
            )
            assert code is grpc.StatusCode.ALREADY_EXISTS and "pay-2" in details

            changed = await stub.ChangePlan(
                pb.ChangePlanRequest(subscription_id=sub.subscription_id, plan_id="family")
            )
            assert changed.subscription.plan_id == "family"
            assert changed.subscription.current_period_end == paid.subscription.current_period_end

            flagged = await stub.CancelSubscription(
                pb.CancelSubscriptionRequest(
                    subscription_id=sub.subscription_id, at_period_end=True
                )
            )
            assert (
                flagged.subscription.state == ACTIVE and flagged.subscription.cancel_at_period_end
            )
            code, _ = await code_of(
                stub.CreateSubscription(
                    pb.CreateSubscriptionRequest(
                        user_id="u1", plan_id="basic", idempotency_key="k2"
                    )
                )
            )
            assert code is grpc.StatusCode.ALREADY_EXISTS  # one open subscription per user

            clock.advance(40 * DAY)  # past the period end: the scheduled cancellation is due
            got = (await stub.GetSubscription(pb.GetSubscriptionRequest(user_id="u1"))).subscription
            assert got.state == CANCELLED
            code, _ = await code_of(
                stub.RecordPayment(payment(sub.subscription_id, "pay-3", SUCCEEDED, clock))
            )
            assert code is grpc.StatusCode.FAILED_PRECONDITION

            second = (
                await stub.CreateSubscription(
                    pb.CreateSubscriptionRequest(
                        user_id="u1", plan_id="basic", idempotency_key="k2"
                    )
                )
            ).subscription
            assert second.state == ACTIVE and second.subscription_id != sub.subscription_id
            code, details = await code_of(
                stub.CreateSubscription(
                    pb.CreateSubscriptionRequest(
                        user_id="u1", plan_id="basic", start_trial=True, idempotency_key="k3"
                    )
                )
            )
            assert code is grpc.StatusCode.ALREADY_EXISTS
            newest = (
                await stub.GetSubscription(pb.GetSubscriptionRequest(user_id="u1"))
            ).subscription
            assert newest.subscription_id == second.subscription_id
    finally:
        await cache.close()
        await client.aclose()


async def test_create_rules_and_bad_input(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    async with running(pool, clock) as stub:
        code, details = await code_of(
            stub.CreateSubscription(pb.CreateSubscriptionRequest(user_id="u1", plan_id="basic"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "idempotency_key" in details
        code, details = await code_of(
            stub.CreateSubscription(
                pb.CreateSubscriptionRequest(plan_id="basic", idempotency_key="k")
            )
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "user_id" in details
        code, _ = await code_of(
            stub.CreateSubscription(
                pb.CreateSubscriptionRequest(user_id="u1", plan_id="gold", idempotency_key="k")
            )
        )
        assert code is grpc.StatusCode.NOT_FOUND
        code, details = await code_of(
            stub.CreateSubscription(
                pb.CreateSubscriptionRequest(user_id="u1", plan_id="legacy", idempotency_key="k")
            )
        )
        assert code is grpc.StatusCode.FAILED_PRECONDITION and "legacy" in details
        code, _ = await code_of(
            stub.CreateSubscription(
                pb.CreateSubscriptionRequest(
                    user_id="u1", plan_id="family-yearly", start_trial=True, idempotency_key="k"
                )
            )
        )
        assert code is grpc.StatusCode.FAILED_PRECONDITION
        made = (
            await stub.CreateSubscription(
                pb.CreateSubscriptionRequest(user_id="u1", plan_id="basic", idempotency_key="k")
            )
        ).subscription
        code, details = await code_of(
            stub.CreateSubscription(
                pb.CreateSubscriptionRequest(user_id="u1", plan_id="family", idempotency_key="k")
            )
        )
        assert code is grpc.StatusCode.ALREADY_EXISTS and "idempotency_key" in details
        code, details = await code_of(stub.GetSubscription(pb.GetSubscriptionRequest()))
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "subscription_id" in details
        code, details = await code_of(
            stub.RecordPayment(
                pb.RecordPaymentRequest(
                    subscription_id=made.subscription_id, outcome=SUCCEEDED, currency_code="USD"
                )
            )
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "payment_reference" in details
        code, _ = await code_of(
            stub.ChangePlan(pb.ChangePlanRequest(subscription_id="missing", plan_id="basic"))
        )
        assert code is grpc.StatusCode.NOT_FOUND
        by_id = await stub.GetSubscription(
            pb.GetSubscriptionRequest(subscription_id=made.subscription_id)
        )
        assert by_id.subscription.user_id == "u1"


async def test_permissions_through_real_access_controller(pool: asyncpg.Pool) -> None:
    identity = TestIdentity()
    clock = FakeClock()
    u1 = identity.bearer("family_member", subject="u1")
    u2 = identity.bearer("family_member", subject="u2")
    admin = identity.bearer("admin", subject="admin-1")
    async with running(pool, clock, access=identity.access) as stub:
        mine = (
            await stub.CreateSubscription(
                pb.CreateSubscriptionRequest(user_id="u1", plan_id="basic", idempotency_key="a"),
                metadata=u1,
            )
        ).subscription
        code, _ = await code_of(
            stub.CreateSubscription(
                pb.CreateSubscriptionRequest(user_id="u1", plan_id="basic", idempotency_key="b"),
                metadata=u2,
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED
        got = await stub.GetSubscription(pb.GetSubscriptionRequest(user_id="u1"), metadata=u1)
        assert got.subscription.subscription_id == mine.subscription_id
        code, _ = await code_of(
            stub.GetSubscription(pb.GetSubscriptionRequest(user_id="u1"), metadata=u2)
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED
        # Named by id: another user's subscription does not exist as far as u2 can tell.
        code, _ = await code_of(
            stub.CancelSubscription(
                pb.CancelSubscriptionRequest(subscription_id=mine.subscription_id), metadata=u2
            )
        )
        assert code is grpc.StatusCode.NOT_FOUND
        # Payments come from the processor (manage), never from the subscriber.
        code, details = await code_of(
            stub.RecordPayment(payment(mine.subscription_id, "p", SUCCEEDED, clock), metadata=u1)
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED and "no_permission" in details
        ok = await stub.RecordPayment(
            payment(mine.subscription_id, "p", FAILED, clock), metadata=admin
        )
        assert ok.subscription.state == PAST_DUE
        plans = await stub.ListPlans(pb.ListPlansRequest(), metadata=u1)
        assert plans.plans
