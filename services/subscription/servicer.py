"""gRPC adapter of the subscription service: parse, validate, authorise by record, store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.subscription.v1 import subscription_service_pb2 as pb
from lilo.subscription.v1 import subscription_service_pb2_grpc as pb_grpc

import mesh.context
from mesh.cache import TwoTierCache
from mesh.clock import Clock, SystemClock
from mesh.status import AlreadyExists, InvalidArgument, NotFound
from services.subscription import logic
from services.subscription.store import (
    DuplicateIdempotencyKey,
    OpenSubscriptionExists,
    SubscriptionStore,
)

Context: TypeAlias = aio.ServicerContext[Any, Any]


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def plan_proto(plan: logic.Plan) -> pb.Plan:
    return pb.Plan(
        plan_id=plan.plan_id,
        name=plan.name,
        description=plan.description,
        price_micros=plan.price_micros,
        currency_code=plan.currency_code,
        interval=int(plan.interval),  # type: ignore[arg-type]
        trial_period=Duration(seconds=plan.trial_seconds) if plan.trial_seconds else None,
        features=list(plan.features),
        available=plan.available,
    )


def sub_proto(sub: logic.Subscription) -> pb.Subscription:
    return pb.Subscription(
        subscription_id=sub.subscription_id,
        user_id=sub.user_id,
        plan_id=sub.plan_id,
        state=int(sub.state),  # type: ignore[arg-type]
        trial_ends_at=_ts(sub.trial_ends_at),
        current_period_start=_ts(sub.current_period_start),
        current_period_end=_ts(sub.current_period_end),
        cancel_at_period_end=sub.cancel_at_period_end,
        past_due_since=_ts(sub.past_due_since),
        cancelled_at=_ts(sub.cancelled_at),
        created_at=_ts(sub.created_at),
        updated_at=_ts(sub.updated_at),
    )


def _from_proto(message: pb.Subscription) -> logic.Subscription:
    def dt(name: str) -> datetime | None:
        if not message.HasField(name):
            return None
        stamp: Timestamp = getattr(message, name)
        return stamp.ToDatetime(tzinfo=UTC)

    def req(name: str) -> datetime:
        value = dt(name)
        assert value is not None
        return value

    return logic.Subscription(
        subscription_id=message.subscription_id,
        user_id=message.user_id,
        plan_id=message.plan_id,
        state=logic.State(message.state),
        trial_ends_at=dt("trial_ends_at"),
        current_period_start=req("current_period_start"),
        current_period_end=req("current_period_end"),
        cancel_at_period_end=message.cancel_at_period_end,
        past_due_since=dt("past_due_since"),
        cancelled_at=dt("cancelled_at"),
        created_at=req("created_at"),
        updated_at=req("updated_at"),
    )


def may_see(user_id: str) -> bool:
    """Whether the caller's admission reaches ``user_id`` (records named by id). No decision
    means the server runs without an access controller (``mesh.testing.AllowAll``)."""
    call = mesh.context.current()
    decision = getattr(call.admission, "decision", None) if call is not None else None
    if decision is None:
        return True
    visible = decision.visible_residents
    return visible is None or user_id in visible


class SubscriptionServicer(pb_grpc.SubscriptionServiceServicer):
    def __init__(
        self,
        store: SubscriptionStore,
        *,
        cache: TwoTierCache | None = None,
        clock: Clock | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._cache = cache
        self._clock = clock or SystemClock()
        self._new_id = new_id

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.wall(), UTC)

    async def _invalidate(self, sub: logic.Subscription) -> None:
        if self._cache is not None:
            await self._cache.invalidate(*logic.cache_keys(sub))

    async def _cached(self, key: str, load: Callable[[], Any]) -> logic.Subscription | None:
        async def loader() -> bytes | None:
            sub: logic.Subscription | None = await load()
            return sub_proto(sub).SerializeToString() if sub is not None else None

        raw = await (self._cache.get(key, loader) if self._cache is not None else loader())
        return _from_proto(pb.Subscription.FromString(raw)) if raw is not None else None

    async def _plan(self, plan_id: str) -> logic.Plan:
        logic.require("plan_id", plan_id)
        plan = await self._store.plan(plan_id)
        if plan is None:
            raise NotFound(f"plan {plan_id} not found")
        return plan

    async def _mutate(
        self,
        subscription_id: str,
        change: Callable[[logic.Subscription], logic.Subscription],
        cancel_reason: str | None = None,
    ) -> logic.Subscription:
        logic.require("subscription_id", subscription_id)
        current = await self._store.get(subscription_id)
        if current is None or not may_see(current.user_id):
            raise NotFound(f"subscription {subscription_id} not found")
        updated = await self._store.mutate(subscription_id, change, cancel_reason=cancel_reason)
        assert updated is not None  # subscriptions are never deleted
        if updated != current:
            await self._invalidate(updated)
        return updated

    async def ListPlans(
        self, request: pb.ListPlansRequest, context: Context
    ) -> pb.ListPlansResponse:
        plans = await self._store.plans(request.include_unavailable)
        return pb.ListPlansResponse(plans=[plan_proto(p) for p in plans])

    async def GetSubscription(
        self, request: pb.GetSubscriptionRequest, context: Context
    ) -> pb.GetSubscriptionResponse:
        if bool(request.subscription_id) == bool(request.user_id):
            raise InvalidArgument("exactly one of subscription_id and user_id must be set")
        if request.user_id:
            user_id = logic.require("user_id", request.user_id)
            sub = await self._cached(
                f"user|{user_id}", lambda: self._store.newest_for_user(user_id)
            )
            if sub is None:
                raise NotFound(f"user {user_id} has no subscription")
        else:
            sid = logic.require("subscription_id", request.subscription_id)
            sub = await self._cached(f"id|{sid}", lambda: self._store.get(sid))
            if sub is None or not may_see(sub.user_id):
                raise NotFound(f"subscription {sid} not found")
        # The cache holds the stored row; time-driven transitions are applied on the way out.
        return pb.GetSubscriptionResponse(subscription=sub_proto(logic.settle(sub, self._now())))

    async def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: Context
    ) -> pb.CreateSubscriptionResponse:
        user_id = logic.require("user_id", request.user_id)
        key = logic.require("idempotency_key", request.idempotency_key)
        logic.require("plan_id", request.plan_id)
        now = self._now()
        prior = await self._store.by_idempotency_key(user_id, key)
        if prior is None:
            plan = await self._plan(request.plan_id)
            open_sub = await self._store.open_for_user(user_id)
            if open_sub is not None:
                # A scheduled cancellation may have fallen due: record it, then go on.
                settled = await self._store.mutate(
                    open_sub.subscription_id, lambda s: logic.settle(s, now)
                )
                if settled is not None and settled.state is not logic.State.CANCELLED:
                    raise AlreadyExists(
                        f"user {user_id} already has subscription {settled.subscription_id}; "
                        "change its plan or cancel it first"
                    )
                if settled is not None:
                    await self._invalidate(settled)
            sub = logic.new_subscription(
                subscription_id=self._new_id(),
                user_id=user_id,
                plan=plan,
                start_trial=request.start_trial,
                had_trial=await self._store.had_trial(user_id),
                now=now,
            )
            try:
                await self._store.insert(sub, key, request.start_trial)
                await self._invalidate(sub)
                return pb.CreateSubscriptionResponse(subscription=sub_proto(sub))
            except OpenSubscriptionExists:
                raise AlreadyExists(f"user {user_id} already has a subscription") from None
            except DuplicateIdempotencyKey:
                prior = await self._store.by_idempotency_key(user_id, key)
                assert prior is not None
        first, first_trial = prior
        if first.plan_id != request.plan_id or first_trial != request.start_trial:
            raise AlreadyExists(
                f"idempotency_key {key} was used for a different plan_id or start_trial"
            )
        return pb.CreateSubscriptionResponse(subscription=sub_proto(logic.settle(first, now)))

    async def ChangePlan(
        self, request: pb.ChangePlanRequest, context: Context
    ) -> pb.ChangePlanResponse:
        logic.require("subscription_id", request.subscription_id)
        plan = await self._plan(request.plan_id)
        now = self._now()
        sub = await self._mutate(request.subscription_id, lambda s: logic.change_plan(s, plan, now))
        return pb.ChangePlanResponse(subscription=sub_proto(sub))

    async def CancelSubscription(
        self, request: pb.CancelSubscriptionRequest, context: Context
    ) -> pb.CancelSubscriptionResponse:
        now = self._now()
        sub = await self._mutate(
            request.subscription_id,
            lambda s: logic.cancel(s, at_period_end=request.at_period_end, now=now),
            cancel_reason=request.reason,
        )
        return pb.CancelSubscriptionResponse(subscription=sub_proto(sub))

    async def RecordPayment(
        self, request: pb.RecordPaymentRequest, context: Context
    ) -> pb.RecordPaymentResponse:
        logic.validate_payment(
            subscription_id=request.subscription_id,
            payment_reference=request.payment_reference,
            outcome=request.outcome,
            amount_micros=request.amount_micros,
            currency_code=request.currency_code,
        )
        now = self._now()
        occurred = (
            request.occurred_at.ToDatetime(tzinfo=UTC) if request.HasField("occurred_at") else now
        )
        payment = logic.Payment(
            payment_reference=request.payment_reference,
            subscription_id=request.subscription_id,
            outcome=logic.Outcome(request.outcome),
            amount_micros=request.amount_micros,
            currency_code=request.currency_code,
            occurred_at=occurred,
            failure_reason=request.failure_reason,
        )
        current = await self._store.get(request.subscription_id)
        if current is None or not may_see(current.user_id):
            raise NotFound(f"subscription {request.subscription_id} not found")
        plan = await self._plan(current.plan_id)

        def change(sub: logic.Subscription, prior: logic.Payment | None) -> logic.Subscription:
            if prior is not None:
                logic.same_payment(prior, payment)
                return logic.settle(sub, now)
            return logic.apply_payment(sub, payment, plan, now)

        result = await self._store.record_payment(payment, now, change)
        assert result is not None
        sub, prior = result
        if prior is None:
            await self._invalidate(sub)
        return pb.RecordPaymentResponse(subscription=sub_proto(sub), deduplicated=prior is not None)
