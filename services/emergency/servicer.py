"""EmergencyAccessService handlers.

Visibility: callers whose RBAC scope for the call is ``all`` (administrators, trusted
services) see the accesses of their organisation (services: all); everyone else sees
only their own accesses. Records a caller may not see answer NOT_FOUND.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.emergency.v1 import emergency_service_pb2 as pb
from lilo.emergency.v1 import emergency_service_pb2_grpc as pb_grpc

from mesh import context, telemetry
from mesh.clock import Clock, SystemClock
from mesh.identity.rbac import Scope
from mesh.status import InvalidArgument, NotFound, PermissionDenied
from services.audit.logic import (
    AuditEventData,
    decode_page_token,
    encode_page_token,
    page_size,
    to_us,
)
from services.audit.writer import AuditWriter
from services.emergency import logic, store
from services.emergency.logic import TYPE_NAMES, TYPE_VALUES, Access, EmergencyConfig

_REVIEW = {
    "pending": pb.REVIEW_STATUS_PENDING,
    "approved": pb.REVIEW_STATUS_APPROVED,
    "rejected": pb.REVIEW_STATUS_REJECTED,
}
_DECISION = {pb.REVIEW_STATUS_APPROVED: "approved", pb.REVIEW_STATUS_REJECTED: "rejected"}


def _ts(dt: datetime | None) -> Timestamp | None:
    if dt is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


def access_to_pb(a: Access) -> pb.EmergencyAccess:
    return pb.EmergencyAccess(
        access_id=a.access_id,
        user_id=a.user_id,
        patient_id=a.patient_id,
        emergency_type=TYPE_VALUES.get(a.emergency_type, 0),  # type: ignore[arg-type]
        justification=a.justification,
        granted_at=_ts(a.granted_at),
        expires_at=_ts(a.expires_at),
        review_status=_REVIEW.get(a.review_status, pb.REVIEW_STATUS_UNSPECIFIED),
        reviewed_by=a.reviewed_by,
        review_note=a.review_note,
        reviewed_at=_ts(a.reviewed_at),
        revoked_at=_ts(a.revoked_at),
        revoked_by=a.revoked_by,
        revoke_reason=a.revoke_reason,
        trace_id=a.trace_id,
    )


class EmergencyAccessServicer(pb_grpc.EmergencyAccessServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        audit: AuditWriter,
        *,
        config: EmergencyConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._pool = pool
        self._audit = audit
        self._config = config or EmergencyConfig()
        self._clock = clock or SystemClock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.wall(), UTC)

    async def _record(self, event_type: str, a: Access, actor: Any, **context_: str) -> None:
        """Audit a grant/review/revocation; raising means it is not done (fail closed)."""
        role = getattr(actor, "role", None)
        await self._audit.append(
            [
                AuditEventData(
                    audit_id=uuid.uuid4().hex,
                    actor_user_id=str(getattr(actor, "subject", "") or "anonymous"),
                    actor_role=f"ROLE_{str(role).upper()}" if role else "ROLE_UNSPECIFIED",
                    event_type=event_type,
                    action="break_glass_access",
                    resource="emergency_access",
                    outcome="ALLOWED",
                    occurred_at_us=to_us(self._now()),
                    resource_id=a.access_id,
                    resident_id=a.patient_id,
                    phi_accessed=False,
                    compliance_context="hipaa_164_312_a_2_ii_emergency_access",
                    break_glass=True,
                    trace_id=telemetry.current_trace_id(),
                    additional_context={
                        "break_glass_grant_ids": a.access_id,
                        "expires_at": a.expires_at.isoformat(),
                        **context_,
                    },
                )
            ]
        )

    async def _visible(
        self, access_id: str, *, for_update: bool = False, conn: Any = None
    ) -> Access:
        if not access_id:
            raise InvalidArgument("access_id is required")
        a = await store.get(conn or self._pool, access_id, for_update=for_update)
        if a is None or not _may_see(a):
            raise NotFound(f"emergency access {access_id} not found")
        return a

    async def RequestEmergencyAccess(
        self, request: pb.RequestEmergencyAccessRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.RequestEmergencyAccessResponse:
        requested = (
            request.requested_duration.ToTimedelta()
            if request.HasField("requested_duration")
            else None
        )
        kind, duration = logic.validate_request(
            patient_id=request.patient_id,
            justification=request.justification,
            emergency_type=request.emergency_type,
            requested=requested,
            config=self._config,
        )
        principal = context.principal()
        if principal is None or principal.is_service:
            raise PermissionDenied("break-glass access is requested by a person, not a service")
        now = self._now()
        access = Access(
            access_id=uuid.uuid4().hex,
            user_id=principal.subject,
            organization_id=principal.organization_id,
            patient_id=request.patient_id,
            emergency_type=kind,
            justification=request.justification.strip(),
            granted_at=now,
            expires_at=now + duration,
            trace_id=telemetry.current_trace_id(),
        )
        # Audited first: an access that cannot be audited is never granted.
        await self._record(
            "emergency_access_granted",
            access,
            principal,
            emergency_type=kind,
            duration_seconds=str(int(duration / timedelta(seconds=1))),
        )
        await store.insert(self._pool, access)
        return pb.RequestEmergencyAccessResponse(access=access_to_pb(access))

    async def GetEmergencyAccess(
        self, request: pb.GetEmergencyAccessRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.GetEmergencyAccessResponse:
        return pb.GetEmergencyAccessResponse(
            access=access_to_pb(await self._visible(request.access_id))
        )

    async def ListEmergencyAccess(
        self, request: pb.ListEmergencyAccessRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.ListEmergencyAccessResponse:
        limit = page_size(request.page_size, default=50, maximum=500)
        after = None
        if request.page_token:
            us, aid = decode_page_token(request.page_token, (int, str))
            after = (datetime.fromtimestamp(0, UTC) + timedelta(microseconds=us), aid)
        user_id, org = request.user_id, None
        principal = context.principal()
        if not _sees_all():
            own = getattr(principal, "subject", "")
            if user_id and user_id != own:
                return pb.ListEmergencyAccessResponse()
            user_id = own
        elif principal is not None and not principal.is_service:
            org = principal.organization_id
        rows = await store.list_accesses(
            self._pool,
            pending_only=request.pending_review_only,
            active_at=self._now() if request.active_only else None,
            user_id=user_id,
            patient_id=request.patient_id,
            organization_id=org,
            limit=limit + 1,
            after=after,
        )
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = encode_page_token(to_us(rows[-1].granted_at), rows[-1].access_id)
        return pb.ListEmergencyAccessResponse(
            accesses=[access_to_pb(a) for a in rows], next_page_token=token
        )

    async def ReviewEmergencyAccess(
        self, request: pb.ReviewEmergencyAccessRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.ReviewEmergencyAccessResponse:
        principal = context.principal()
        if not _sees_all() or principal is None:
            raise PermissionDenied("only an administrator reviews emergency access")
        decision = _DECISION.get(request.decision, "")
        async with self._pool.acquire() as conn, conn.transaction():
            a = await self._visible(request.access_id, for_update=True, conn=conn)
            if a.user_id == principal.subject:
                raise PermissionDenied("an emergency access is reviewed by someone else")
            reviewed = logic.review(a, decision, request.note, principal.subject, self._now())
            await self._record("emergency_access_reviewed", reviewed, principal, decision=decision)
            await store.save(conn, reviewed)
        return pb.ReviewEmergencyAccessResponse(access=access_to_pb(reviewed))

    async def RevokeEmergencyAccess(
        self, request: pb.RevokeEmergencyAccessRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.RevokeEmergencyAccessResponse:
        principal = context.principal()
        async with self._pool.acquire() as conn, conn.transaction():
            a = await self._visible(request.access_id, for_update=True, conn=conn)
            ended = logic.revoke(
                a, getattr(principal, "subject", "system"), request.reason, self._now()
            )
            if ended is not a:
                await self._record("emergency_access_revoked", ended, principal)
                await store.save(conn, ended)
        return pb.RevokeEmergencyAccessResponse(access=access_to_pb(ended))


def _decision() -> Any:
    call = context.current()
    return getattr(getattr(call, "admission", None), "decision", None)


def _sees_all() -> bool:
    decision = _decision()
    return decision is not None and decision.scope is Scope.ALL


def _may_see(a: Access) -> bool:
    principal = context.principal()
    if principal is None:
        return False
    if _sees_all():
        return bool(principal.is_service or a.organization_id == principal.organization_id)
    return bool(a.user_id == principal.subject)


__all__ = ["TYPE_NAMES", "EmergencyAccessServicer", "access_to_pb"]
