"""gRPC adapter of the billing service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.billing.v1 import billing_service_pb2 as pb
from lilo.billing.v1 import billing_service_pb2_grpc as pb_grpc

from mesh.clock import Clock, SystemClock
from services.billing import logic
from services.billing.store import BillingStore

Context: TypeAlias = aio.ServicerContext[Any, Any]


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def event_proto(event: logic.UsageEvent) -> pb.UsageEvent:
    return pb.UsageEvent(
        event_id=event.event_id,
        user_id=event.user_id,
        service_type=event.service_type,  # type: ignore[arg-type]
        quantity=event.quantity,
        unit_cost_micros=event.unit_cost_micros,
        cost_micros=event.cost_micros,
        currency_code=event.currency_code,
        billing_period=event.billing_period,
        occurred_at=_ts(event.occurred_at),
        recorded_at=_ts(event.recorded_at),
        idempotency_key=event.idempotency_key,
    )


class BillingServicer(pb_grpc.BillingServiceServicer):
    """Every rpc names its user (``resident_field: user_id``), so the mesh has already
    checked the caller may act for that user before a handler runs."""

    def __init__(
        self,
        store: BillingStore,
        *,
        prices: logic.PriceTable | None = None,
        clock: Clock | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._prices = prices or logic.PriceTable()
        self._clock = clock or SystemClock()
        self._new_id = new_id

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: Context
    ) -> pb.RecordUsageResponse:
        now = datetime.fromtimestamp(self._clock.wall(), UTC)
        occurred = (
            request.occurred_at.ToDatetime(tzinfo=UTC) if request.HasField("occurred_at") else now
        )
        event = logic.price(
            event_id=self._new_id(),
            user_id=request.user_id,
            service_type=request.service_type,
            quantity=request.quantity,
            idempotency_key=request.idempotency_key,
            occurred_at=occurred,
            recorded_at=now,
            prices=self._prices,
        )
        stored, seen = await self._store.record(event)
        if seen:
            logic.check_same_use(stored, event)
        return pb.RecordUsageResponse(event=event_proto(stored), deduplicated=seen)

    async def ListUsageEvents(
        self, request: pb.ListUsageEventsRequest, context: Context
    ) -> pb.ListUsageEventsResponse:
        logic.require("user_id", request.user_id)
        period = (
            logic.validate_period("billing_period", request.billing_period)
            if request.billing_period
            else None
        )
        types = logic.validate_service_types(request.service_types)
        size = logic.page_size(request.page_size)
        events = await self._store.list_page(
            request.user_id,
            period=period,
            service_types=types,
            after=logic.decode_cursor(request.page_token),
            limit=size + 1,
        )
        token = ""
        if len(events) > size:
            events = events[:size]
            last = events[-1]
            token = logic.encode_cursor(
                logic.Cursor(logic.to_micros(last.occurred_at), last.event_id)
            )
        return pb.ListUsageEventsResponse(
            events=[event_proto(e) for e in events], next_page_token=token
        )

    async def GetPeriodTotals(
        self, request: pb.GetPeriodTotalsRequest, context: Context
    ) -> pb.GetPeriodTotalsResponse:
        logic.require("user_id", request.user_id)
        period = logic.validate_period("billing_period", request.billing_period)
        rows = await self._store.totals(request.user_id, period)
        totals = [
            pb.ServiceTypeTotal(
                service_type=r["service_type"],
                event_count=r["event_count"],
                quantity=r["quantity"],
                cost_micros=r["cost_micros"],
            )
            for r in rows
        ]
        currencies = {str(r["currency_code"]).strip() for r in rows}
        return pb.GetPeriodTotalsResponse(
            billing_period=period,
            totals=totals,
            total_cost_micros=sum(t.cost_micros for t in totals),
            currency_code=currencies.pop() if len(currencies) == 1 else self._prices.currency_code,
        )
