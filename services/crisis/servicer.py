"""CrisisServicer: the gRPC adapter. Validates, decides visibility, calls logic and store.

Writes are stored before anyone is told: the store commits the alert or change with its
feed event (and outbox rows) in one transaction, and only then is the event published.
A write that has started is finished even if the caller goes away (``_durably``): once
the service has decided that a resident is in danger, the caller's impatience must not
roll that decision back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from grpc import aio
from lilo.crisis.v1 import crisis_service_pb2 as pb
from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc
from lilo.safety.v1 import safety_service_pb2 as safety_pb

from mesh import context, paging
from mesh.errors import MeshError
from mesh.status import InvalidArgument, PermissionDenied
from mesh.telemetry import current_trace_id
from services.crisis import AlertNotFound, logic
from services.crisis.access import actor_of, may_close_alerts, visibility_of
from services.crisis.config import CrisisConfig
from services.crisis.convert import (
    alert_to_pb,
    decode_page_token,
    encode_page_token,
    parse_alert_id,
    parse_cursor,
)
from services.crisis.feed import FeedBus, watch
from services.crisis.logic import AlertRecord, Change, Level
from services.crisis.store import CrisisStore, FeedFilter
from services.safety.detector import Detector, RuleDetector
from services.safety.model import Analysis
from services.safety.phi import find_phi, mask

__all__ = ["CrisisServicer"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_CONTENT_BYTES = 16 * 1024
_MAX_ID = 200
_DEFAULT_PAGE, _MAX_PAGE = 50, 500
_CATEGORIES = frozenset(range(1, 8))  # lilo.safety.v1.CrisisCategory values


class CrisisServicer(pb_grpc.CrisisServiceServicer):
    def __init__(
        self,
        store: CrisisStore,
        bus: FeedBus,
        *,
        config: CrisisConfig,
        clock: Any,
        notifiers: Sequence[str],
        safety: Any | None = None,
        fallback: Detector | None = None,
    ) -> None:
        """``safety`` is a ``SafetyServiceStub`` (on the mesh client's balanced channel);
        ``fallback`` screens in-process whenever that call fails, so detection is never
        lost to an outage of the safety service."""
        self._store = store
        self._bus = bus
        self._config = config
        self._clock = clock
        self._notifiers = list(notifiers)
        self._safety = safety
        self._fallback = fallback or RuleDetector()
        self._inflight: set[asyncio.Task[Any]] = set()

    # -- writes --------------------------------------------------------------------------

    async def ScreenContent(
        self, request: pb.ScreenContentRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.ScreenContentResponse:
        resident_id = _required_id(request.resident_id, "resident_id")
        content = request.content
        if not content.strip():
            raise InvalidArgument("content is required")
        if len(content.encode()) > _MAX_CONTENT_BYTES:
            raise InvalidArgument("content must be at most 16 KiB")
        analysis = await self._analyze(request)
        response = pb.ScreenContentResponse(analysis=analysis)
        if analysis.crisis_level >= self._config.alert_level:
            record = await self._durably(
                lambda: self._create(
                    resident_id=resident_id,
                    source=request.source or "screen",
                    level=Level(analysis.crisis_level),
                    categories=tuple(analysis.crisis_categories),
                    excerpt=analysis.masked_content,
                    idempotency_key="",
                )
            )
            response.alert.CopyFrom(alert_to_pb(record))
        return response

    async def CreateAlert(
        self, request: pb.CreateAlertRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.CreateAlertResponse:
        resident_id = _required_id(request.resident_id, "resident_id")
        if not Level.LOW <= request.level <= Level.CRITICAL:
            raise InvalidArgument("level must be CRISIS_LEVEL_LOW or higher")
        bad = [c for c in request.categories if c not in _CATEGORIES]
        if bad:
            raise InvalidArgument(f"categories contains unknown value {bad[0]}")
        if len(request.idempotency_key) > _MAX_ID:
            raise InvalidArgument(f"idempotency_key must be at most {_MAX_ID} characters")
        if len(request.source) > _MAX_ID:
            raise InvalidArgument(f"source must be at most {_MAX_ID} characters")
        record = await self._durably(
            lambda: self._create(
                resident_id=resident_id,
                source=request.source or "direct",
                level=Level(request.level),
                categories=tuple(request.categories),
                excerpt=request.excerpt,
                idempotency_key=request.idempotency_key,
            )
        )
        return pb.CreateAlertResponse(alert=alert_to_pb(record))

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.AcknowledgeAlertResponse:
        actor = self._actor()
        record = await self._transition(
            request.alert_id,
            lambda alert, now: logic.acknowledge(alert, actor, request.note, now),
            closing=True,
        )
        return pb.AcknowledgeAlertResponse(alert=alert_to_pb(record))

    async def EscalateAlert(
        self, request: pb.EscalateAlertRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.EscalateAlertResponse:
        policy = self._config.policy
        record = await self._transition(
            request.alert_id,
            lambda alert, now: logic.escalate(alert, request.reason, now, policy),
            closing=False,
        )
        return pb.EscalateAlertResponse(alert=alert_to_pb(record))

    async def ResolveAlert(
        self, request: pb.ResolveAlertRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.ResolveAlertResponse:
        if not request.resolution.strip():
            raise InvalidArgument("resolution is required: say how the crisis ended")
        record = await self._transition(
            request.alert_id,
            lambda alert, now: logic.resolve(alert, request.resolution, now),
            closing=True,
        )
        return pb.ResolveAlertResponse(alert=alert_to_pb(record))

    # -- reads ---------------------------------------------------------------------------

    async def GetAlert(
        self, request: pb.GetAlertRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.GetAlertResponse:
        alert_id = parse_alert_id(request.alert_id)
        record = await self._store.get(alert_id)
        if record is None or not self._visibility().allows(
            record.organization_id, record.resident_id
        ):
            raise AlertNotFound(f"alert {alert_id} not found")
        return pb.GetAlertResponse(alert=alert_to_pb(record))

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.ListAlertsResponse:
        size = paging.page_size(request.page_size, default=_DEFAULT_PAGE, maximum=_MAX_PAGE)
        bad_state = [s for s in request.states if not 1 <= s <= 4]
        if bad_state:
            raise InvalidArgument(f"states contains unknown value {bad_state[0]}")
        if not 0 <= request.min_level <= Level.CRITICAL:
            raise InvalidArgument(f"min_level {request.min_level} is not a crisis level")
        after = decode_page_token(request.page_token) if request.page_token else None
        vis = self._visibility()
        requested = frozenset([request.resident_id]) if request.resident_id else frozenset()
        residents = (requested or None) if vis.residents is None else vis.narrow(requested)
        if residents is not None and not residents:
            return pb.ListAlertsResponse()
        rows = await self._store.list_alerts(
            residents=residents,
            organization_id=vis.organization_id,
            states=list(request.states),
            min_level=request.min_level,
            after=after,
            limit=size + 1,
        )
        response = pb.ListAlertsResponse(alerts=[alert_to_pb(r) for r, _ in rows[:size]])
        if len(rows) > size:
            last, micros = rows[size - 1]
            response.next_page_token = encode_page_token(micros, last.alert_id)
        return response

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context_: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        if request.resume_cursor:
            after: int | None = parse_cursor(request.resume_cursor)
        else:
            after = 0 if request.replay_all else None
        if not 0 <= request.min_level <= Level.CRITICAL:
            raise InvalidArgument(f"min_level {request.min_level} is not a crisis level")
        vis = self._visibility()
        requested = frozenset(request.resident_ids)
        residents = (requested or None) if vis.residents is None else vis.narrow(requested)
        feed_filter = FeedFilter(
            residents=residents, organization_id=vis.organization_id, min_level=request.min_level
        )
        async for event in watch(self._store, self._bus, after, feed_filter):
            yield event.watch_response

    # -- helpers -------------------------------------------------------------------------

    def _admission(self) -> Any:
        call = context.current()
        return None if call is None else call.admission

    def _visibility(self) -> Any:
        return visibility_of(self._admission())

    def _actor(self) -> str:
        return actor_of(self._admission())

    async def _durably(self, start: Callable[[], Awaitable[T]]) -> T:
        """Run a write to completion even if this handler is cancelled meanwhile."""
        task: asyncio.Task[T] = asyncio.ensure_future(start())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _create(
        self,
        *,
        resident_id: str,
        source: str,
        level: Level,
        categories: tuple[int, ...],
        excerpt: str,
        idempotency_key: str,
    ) -> AlertRecord:
        admission = self._admission()
        principal = getattr(admission, "principal", None)
        change = logic.new_alert(
            alert_id=str(uuid.uuid4()),
            organization_id=getattr(principal, "organization_id", "") or "",
            resident_id=resident_id,
            source=source,
            level=level,
            categories=categories,
            excerpt=_mask_excerpt(excerpt, self._config.excerpt_limit),
            trace_id=current_trace_id(),
            now=self._clock.wall(),
            policy=self._config.policy,
        )
        record, event = await self._store.create(
            change,
            actor=actor_of(admission),
            idempotency_key=idempotency_key,
            notifiers=self._notifiers,
            now=self._clock.wall(),
        )
        if event is not None:
            await self._bus.publish([event])
        return record

    async def _transition(
        self,
        alert_id_text: str,
        decide: Callable[[AlertRecord, float], Change],
        *,
        closing: bool,
    ) -> AlertRecord:
        alert_id = parse_alert_id(alert_id_text)
        admission = self._admission()
        vis = visibility_of(admission)
        if closing and not may_close_alerts(admission):
            record = await self._store.get(alert_id)
            if record is None or not vis.allows(record.organization_id, record.resident_id):
                raise AlertNotFound(f"alert {alert_id} not found")
            raise PermissionDenied(
                "permission denied: residents cannot acknowledge or resolve alerts"
            )
        now = self._clock.wall()

        async def run() -> AlertRecord:
            record, event = await self._store.transition(
                alert_id,
                lambda alert: decide(alert, now),
                actor=actor_of(admission),
                visible=vis,
                notifiers=self._notifiers,
                now=now,
            )
            if event is not None:
                await self._bus.publish([event])
            return record

        return await self._durably(run)

    async def _analyze(self, request: pb.ScreenContentRequest) -> safety_pb.AnalyzeContentResponse:
        """The safety service's verdict; the in-process detector's when that call fails."""
        why = "no safety service configured"
        if self._safety is not None:
            try:
                response: safety_pb.AnalyzeContentResponse = await self._safety.AnalyzeContent(
                    safety_pb.AnalyzeContentRequest(
                        content=request.content,
                        resident_id=request.resident_id,
                        source=request.source,
                    )
                )
                if response.crisis_level != safety_pb.CRISIS_LEVEL_UNSPECIFIED:
                    return response
                why = "safety service returned no crisis level"
            except aio.AioRpcError as exc:
                why = f"safety service failed with {exc.code().name}"
            except MeshError as exc:
                why = f"safety service failed with {grpc.StatusCode.UNAVAILABLE.name} ({exc})"
            log.warning("%s; screening in-process with the rule detector", why)
        local = _analysis_to_pb(self._fallback.analyze(request.content))
        local.reasons.append(f"{why}; screened by the in-process rule detector")
        return local


def _required_id(value: str, name: str) -> str:
    if not value.strip():
        raise InvalidArgument(f"{name} is required")
    if len(value) > _MAX_ID:
        raise InvalidArgument(f"{name} must be at most {_MAX_ID} characters")
    return value


def _mask_excerpt(text: str, limit: int) -> str:
    """Mask PHI (again, for text the safety service already masked: defence in depth),
    then cut to ``limit`` characters."""
    masked = mask(text, find_phi(text))
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def _analysis_to_pb(analysis: Analysis) -> safety_pb.AnalyzeContentResponse:
    return safety_pb.AnalyzeContentResponse(
        crisis_detected=analysis.crisis_detected,
        crisis_level=int(analysis.level),  # type: ignore[arg-type]
        crisis_categories=[int(c) for c in analysis.categories],  # type: ignore[misc]
        phi_detected=bool(analysis.phi_spans),
        phi_categories=[int(c) for c in analysis.phi_categories],  # type: ignore[misc]
        phi_spans=[
            safety_pb.PhiSpan(category=int(s.category), start=s.start, end=s.end)  # type: ignore[arg-type]
            for s in analysis.phi_spans
        ],
        recommended_action=int(analysis.recommended_action),  # type: ignore[arg-type]
        escalation_required=analysis.escalation_required,
        safety_score=analysis.safety_score,
        masked_content=analysis.masked_text,
        reasons=list(analysis.reasons),
    )
