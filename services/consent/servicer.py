"""ConsentService handlers: validate, decide (logic), store, answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.consent.v1 import consent_service_pb2 as pb
from lilo.consent.v1 import consent_service_pb2_grpc as pb_grpc

from mesh import context
from mesh.clock import Clock, SystemClock
from mesh.status import InvalidArgument, NotFound
from services.audit.logic import decode_page_token, encode_page_token, page_size
from services.consent import store
from services.consent.logic import (
    CATEGORY_NAMES,
    CATEGORY_VALUES,
    MAX_REASON,
    Grant,
    effective,
    grantor_kind,
    validate_grant,
)

_STATUS = {
    "active": pb.CONSENT_STATUS_ACTIVE,
    "revoked": pb.CONSENT_STATUS_REVOKED,
    "expired": pb.CONSENT_STATUS_EXPIRED,
    "superseded": pb.CONSENT_STATUS_SUPERSEDED,
}
_CHANGE = {
    "granted": pb.CONSENT_CHANGE_GRANTED,
    "revoked": pb.CONSENT_CHANGE_REVOKED,
    "expired": pb.CONSENT_CHANGE_EXPIRED,
    "superseded": pb.CONSENT_CHANGE_SUPERSEDED,
}
_GRANTOR = {"resident": pb.GRANTOR_KIND_RESIDENT, "guardian": pb.GRANTOR_KIND_GUARDIAN}


def _ts(dt: datetime | None) -> Timestamp | None:
    if dt is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(dt)
    return ts


def grant_to_pb(g: Grant) -> pb.ConsentGrant:
    return pb.ConsentGrant(
        consent_id=g.consent_id,
        resident_id=g.resident_id,
        grantee_id=g.grantee_id,
        data_category=CATEGORY_VALUES.get(g.category, 0),  # type: ignore[arg-type]
        granted_by=g.granted_by,
        grantor_kind=_GRANTOR.get(g.grantor_kind, pb.GRANTOR_KIND_UNSPECIFIED),
        purpose=g.purpose,
        status=_STATUS.get(g.status, pb.CONSENT_STATUS_UNSPECIFIED),
        granted_at=_ts(g.granted_at),
        expires_at=_ts(g.expires_at),
        revoked_at=_ts(g.revoked_at),
        revoked_by=g.revoked_by,
    )


class ConsentServicer(pb_grpc.ConsentServiceServicer):
    def __init__(self, pool: asyncpg.Pool, clock: Clock | None = None) -> None:
        self._pool = pool
        self._clock = clock or SystemClock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.wall(), UTC)

    async def GrantConsent(
        self, request: pb.GrantConsentRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.GrantConsentResponse:
        now = self._now()
        expires = request.expires_at.ToDatetime(UTC) if request.HasField("expires_at") else None
        category = validate_grant(
            resident_id=request.resident_id,
            grantee_id=request.grantee_id,
            category=request.data_category,
            purpose=request.purpose,
            expires_at=expires,
            now=now,
        )
        principal = context.principal()
        kind = grantor_kind(principal, request.resident_id)
        new = Grant(
            consent_id=uuid.uuid4().hex,
            resident_id=request.resident_id,
            grantee_id=request.grantee_id,
            category=category,
            granted_by=principal.subject,
            grantor_kind=kind,
            purpose=request.purpose,
            status="active",
            granted_at=now,
            expires_at=expires,
        )
        async with self._pool.acquire() as conn:
            stored = await store.grant(conn, new, now)
        return pb.GrantConsentResponse(grant=grant_to_pb(stored))

    async def RevokeConsent(
        self, request: pb.RevokeConsentRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.RevokeConsentResponse:
        if not request.consent_id:
            raise InvalidArgument("consent_id is required")
        if len(request.reason) > MAX_REASON:
            raise InvalidArgument(f"reason is longer than {MAX_REASON} characters")
        principal = context.principal()
        grantor_kind(principal, request.resident_id)
        now = self._now()
        async with self._pool.acquire() as conn:
            ended = await store.revoke(
                conn,
                request.resident_id,
                request.consent_id,
                principal.subject,
                request.reason,
                now,
            )
        if ended is None:
            raise NotFound(f"consent {request.consent_id} not found")
        return pb.RevokeConsentResponse(grant=grant_to_pb(effective(ended, now)))

    async def ListConsents(
        self, request: pb.ListConsentsRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.ListConsentsResponse:
        limit = page_size(request.page_size, default=50, maximum=500)
        categories = []
        for i, c in enumerate(request.data_categories):
            if c not in CATEGORY_NAMES:
                raise InvalidArgument(f"data_categories[{i}] is not a known DataCategory")
            categories.append(CATEGORY_NAMES[c])
        after = None
        if request.page_token:
            us, cid = decode_page_token(request.page_token, (int, str))
            after = (datetime.fromtimestamp(0, UTC) + _us_delta(us), cid)
        grants = await store.list_grants(
            self._pool,
            request.resident_id,
            grantee_id=request.grantee_id,
            categories=categories,
            include_inactive=request.include_inactive,
            now=self._now(),
            limit=limit + 1,
            after=after,
        )
        token = ""
        if len(grants) > limit:
            grants = grants[:limit]
            last = grants[-1]
            token = encode_page_token(_to_us(last.granted_at), last.consent_id)
        return pb.ListConsentsResponse(
            grants=[grant_to_pb(g) for g in grants], next_page_token=token
        )

    async def GetConsentHistory(
        self, request: pb.GetConsentHistoryRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.GetConsentHistoryResponse:
        limit = page_size(request.page_size, default=100, maximum=1000)
        after = decode_page_token(request.page_token, (int,))[0] if request.page_token else 0
        async with self._pool.acquire() as conn:
            # Expiries that happened are written down first, so history is complete.
            async with conn.transaction():
                await store.expire_due(conn, request.resident_id, self._now())
            rows = await store.history(
                conn,
                request.resident_id,
                consent_id=request.consent_id,
                limit=limit + 1,
                after_seq=after,
            )
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = encode_page_token(rows[-1][0])
        return pb.GetConsentHistoryResponse(
            entries=[
                pb.ConsentHistoryEntry(
                    entry_id=entry_id,
                    change=_CHANGE[change],
                    grant=grant_to_pb(g),
                    actor_id=actor,
                    reason=reason,
                    occurred_at=_ts(at),
                )
                for _, entry_id, change, g, actor, reason, at in rows
            ],
            next_page_token=token,
        )

    async def CheckConsent(
        self, request: pb.CheckConsentRequest, context_: aio.ServicerContext[Any, Any]
    ) -> pb.CheckConsentResponse:
        if not request.grantee_id:
            raise InvalidArgument("grantee_id is required")
        category = CATEGORY_NAMES.get(request.data_category)
        if category is None:
            raise InvalidArgument("data_category must be set to a known DataCategory")
        g = await store.active_grant(
            self._pool, request.resident_id, request.grantee_id, category, self._now()
        )
        if g is None:
            return pb.CheckConsentResponse(allowed=False)
        return pb.CheckConsentResponse(allowed=True, grant=grant_to_pb(g))


def _to_us(dt: datetime) -> int:
    from services.audit.logic import to_us

    return to_us(dt)


def _us_delta(us: int) -> Any:
    from datetime import timedelta

    return timedelta(microseconds=us)
