"""AuditService: AppendEvents, QueryEvents (RBAC-filtered), VerifyChain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.audit.v1 import audit_service_pb2 as pb
from lilo.audit.v1 import audit_service_pb2_grpc as pb_grpc
from lilo.auth.v1 import auth_service_pb2 as auth_pb

from mesh import context
from mesh.status import InvalidArgument
from services.audit import store
from services.audit.chain import ViolationKind, verify_chain
from services.audit.logic import (
    AuditEventData,
    StoredEvent,
    decode_page_token,
    encode_page_token,
    from_us,
    page_size,
    validate_batch,
)
from services.audit.writer import AuditWriter

MAX_VIOLATIONS = 1000

_KIND = {
    ViolationKind.EDITED: pb.CHAIN_VIOLATION_KIND_EDITED,
    ViolationKind.DELETED: pb.CHAIN_VIOLATION_KIND_DELETED,
    ViolationKind.REORDERED: pb.CHAIN_VIOLATION_KIND_REORDERED,
    ViolationKind.INSERTED: pb.CHAIN_VIOLATION_KIND_INSERTED,
}
_OUTCOME_TO_PB = {"ALLOWED": pb.AUDIT_OUTCOME_ALLOWED, "DENIED": pb.AUDIT_OUTCOME_DENIED}


def _us(ts: Timestamp) -> int:
    # Microsecond precision: that is what PostgreSQL keeps and what the chain seals.
    return int(ts.seconds) * 1_000_000 + int(ts.nanos) // 1000


def _ts(us: int) -> Timestamp:
    return Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)


def event_from_pb(e: pb.AuditEvent) -> AuditEventData:
    """The caller's fields only; partition, sequence, hashes and recorded_at are ours."""
    outcome = {pb.AUDIT_OUTCOME_ALLOWED: "ALLOWED", pb.AUDIT_OUTCOME_DENIED: "DENIED"}.get(
        e.outcome, ""
    )
    return AuditEventData(
        audit_id=e.audit_id,
        actor_user_id=e.actor_user_id,
        actor_role=auth_pb.Role.Name(e.actor_role),
        event_type=e.event_type,
        action=e.action,
        resource=e.resource,
        outcome=outcome,
        occurred_at_us=_us(e.occurred_at) if e.HasField("occurred_at") else 0,
        resource_id=e.resource_id,
        resident_id=e.resident_id,
        phi_accessed=e.phi_accessed,
        compliance_context=e.compliance_context,
        break_glass=e.break_glass,
        trace_id=e.trace_id,
        additional_context=dict(e.additional_context),
    )


def event_to_pb(s: StoredEvent) -> pb.AuditEvent:
    d = s.data
    role = d.actor_role if d.actor_role in set(auth_pb.Role.keys()) else "ROLE_UNSPECIFIED"
    return pb.AuditEvent(
        audit_id=d.audit_id,
        actor_user_id=d.actor_user_id,
        actor_role=role,
        event_type=d.event_type,
        action=d.action,
        resource=d.resource,
        resource_id=d.resource_id,
        resident_id=d.resident_id,
        phi_accessed=d.phi_accessed,
        compliance_context=d.compliance_context,
        break_glass=d.break_glass,
        outcome=_OUTCOME_TO_PB.get(d.outcome, pb.AUDIT_OUTCOME_UNSPECIFIED),
        trace_id=d.trace_id,
        additional_context=dict(d.additional_context),
        occurred_at=_ts(d.occurred_at_us),
        recorded_at=_ts(d.recorded_at_us),
        partition=s.partition,
        sequence=s.sequence,
        prev_hash=s.wire_prev_hash,
        integrity_hash=s.integrity_hash,
    )


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, pool: asyncpg.Pool, writer: AuditWriter) -> None:
        self._pool = pool
        self._writer = writer

    async def AppendEvents(
        self, request: pb.AppendEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.AppendEventsResponse:
        events = [event_from_pb(e) for e in request.events]
        validate_batch(events)
        stored = await self._writer.append(events)
        return pb.AppendEventsResponse(events=[event_to_pb(s) for s in stored])

    async def QueryEvents(
        self, request: pb.QueryEventsRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.QueryEventsResponse:
        limit = page_size(request.page_size, default=100, maximum=1000)
        actor, residents = request.actor_user_id, None
        decision = _decision()
        if decision is not None:
            # own_actions: only rows the caller made; own/relation scopes: their residents.
            if decision.actor_filter is not None:
                if actor and actor != decision.actor_filter:
                    return pb.QueryEventsResponse()
                actor = decision.actor_filter
            residents = decision.visible_residents
        after = None
        if request.page_token:
            us, row_id = decode_page_token(request.page_token, (int, int))
            after = (from_us(us), row_id)
        f = store.EventFilter(
            actor_user_id=actor,
            resource=request.resource,
            resource_id=request.resource_id,
            resident_id=request.resident_id,
            phi_only=request.phi_only,
            start=_dt(request.start_time) if request.HasField("start_time") else None,
            end=_dt(request.end_time) if request.HasField("end_time") else None,
            residents=residents,
        )
        rows = await store.query(self._pool, f, limit=limit + 1, after=after)
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            last, last_id = rows[-1]
            token = encode_page_token(last.data.occurred_at_us, last_id)
        return pb.QueryEventsResponse(
            events=[event_to_pb(s) for s, _ in rows], next_page_token=token
        )

    async def VerifyChain(
        self, request: pb.VerifyChainRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.VerifyChainResponse:
        if not request.partition:
            raise InvalidArgument("partition is required")
        events, head = await store.read_partition(self._pool, request.partition)
        found = verify_chain(
            [e.record() for e in events], self._writer.keys.keys, expected_head=head
        )
        found.sort(key=lambda v: v.sequence)
        last = max(events, key=lambda e: e.sequence) if events else None
        return pb.VerifyChainResponse(
            ok=not found,
            checked_events=len(events),
            head_sequence=last.sequence if last else 0,
            head_hash=last.integrity_hash if last else "",
            violations=[
                pb.ChainViolation(
                    sequence=v.sequence,
                    audit_id=v.audit_id or "",
                    kind=_KIND[v.kind],
                    detail=v.detail,
                )
                for v in found[:MAX_VIOLATIONS]
            ],
        )


def _dt(ts: Timestamp) -> datetime:
    return from_us(_us(ts))


def _decision() -> Any:
    call = context.current()
    admission = getattr(call, "admission", None) if call is not None else None
    return getattr(admission, "decision", None)
