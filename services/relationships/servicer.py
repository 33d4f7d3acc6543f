"""gRPC adapter of the relationship service: parse, validate, authorise by record, store."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.relationships.v1 import relationships_service_pb2 as pb
from lilo.relationships.v1 import relationships_service_pb2_grpc as pb_grpc

import mesh.context
from mesh.cache import TwoTierCache
from mesh.clock import Clock, SystemClock
from mesh.status import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.relationships import logic
from services.relationships.store import DuplicateActive, RelationshipStore

Context: TypeAlias = aio.ServicerContext[Any, Any]


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def to_proto(row: logic.RelationshipRow) -> pb.Relationship:
    return pb.Relationship(
        relationship_id=row.relationship_id,
        resident_id=row.resident_id,
        related_user_id=row.related_user_id,
        kind=row.kind,  # type: ignore[arg-type]
        consent_level=row.consent_level,  # type: ignore[arg-type]
        created_by=row.created_by,
        created_at=_ts(row.created_at),
        updated_at=_ts(row.updated_at),
        deleted_at=_ts(row.deleted_at),
    )


def _decision() -> Any:
    call = mesh.context.current()
    return getattr(call.admission, "decision", None) if call is not None else None


def may_see(resident_id: str) -> bool:
    """Whether the caller's admission reaches ``resident_id`` (for rpcs that name a record
    by id, where the interceptor could not check the resident). No decision means the
    server runs without an access controller (``mesh.testing.AllowAll``)."""
    decision = _decision()
    if decision is None:
        return True
    visible = decision.visible_residents
    return visible is None or resident_id in visible


def _actor() -> str:
    principal = mesh.context.principal()
    return str(principal.subject) if principal is not None else "anonymous"


class RelationshipServicer(pb_grpc.RelationshipServiceServicer):
    def __init__(
        self,
        store: RelationshipStore,
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

    async def _visible_row(self, relationship_id: str) -> logic.RelationshipRow:
        logic.require_id("relationship_id", relationship_id)
        row = await self._store.get(relationship_id)
        if row is None or not may_see(row.resident_id):
            # Same answer for "absent" and "not yours": existence must not leak.
            raise NotFound(f"relationship {relationship_id} not found")
        return row

    async def _invalidate(self, row: logic.RelationshipRow) -> None:
        if self._cache is not None:
            await self._cache.invalidate(
                logic.check_cache_key(row.related_user_id, row.resident_id)
            )

    async def CreateRelationship(
        self, request: pb.CreateRelationshipRequest, context: Context
    ) -> pb.CreateRelationshipResponse:
        logic.validate_new(
            request.resident_id, request.related_user_id, request.kind, request.consent_level
        )
        now = self._now()
        row = logic.RelationshipRow(
            relationship_id=self._new_id(),
            resident_id=request.resident_id,
            related_user_id=request.related_user_id,
            kind=request.kind,
            consent_level=request.consent_level,
            created_by=_actor(),
            created_at=now,
            updated_at=now,
            deleted_at=None,
        )
        try:
            stored = await self._store.create(row)
        except DuplicateActive:
            raise AlreadyExists(
                f"user {request.related_user_id} already has a relationship in force with "
                f"resident {request.resident_id}; update or delete it first"
            ) from None
        await self._invalidate(stored)
        return pb.CreateRelationshipResponse(relationship=to_proto(stored))

    async def GetRelationship(
        self, request: pb.GetRelationshipRequest, context: Context
    ) -> pb.GetRelationshipResponse:
        row = await self._visible_row(request.relationship_id)
        return pb.GetRelationshipResponse(relationship=to_proto(row))

    async def ListRelationships(
        self, request: pb.ListRelationshipsRequest, context: Context
    ) -> pb.ListRelationshipsResponse:
        if not request.resident_id and not request.related_user_id:
            raise InvalidArgument("resident_id or related_user_id is required")
        if request.resident_id:
            logic.require_id("resident_id", request.resident_id)
        if request.related_user_id:
            logic.require_id("related_user_id", request.related_user_id)
        kinds = logic.validate_kinds(request.kinds)
        size = logic.page_size(request.page_size)
        cursor = logic.decode_cursor(request.page_token)
        decision = _decision()
        visible = getattr(decision, "visible_residents", None)
        rows = await self._store.list_page(
            resident_id=request.resident_id or None,
            related_user_id=request.related_user_id or None,
            kinds=kinds,
            include_deleted=request.include_deleted,
            visible_residents=sorted(visible) if visible is not None else None,
            after=cursor,
            limit=size + 1,
        )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            last = rows[-1]
            token = logic.encode_cursor(
                logic.Cursor(logic.to_micros(last.created_at), last.relationship_id)
            )
        return pb.ListRelationshipsResponse(
            relationships=[to_proto(r) for r in rows], next_page_token=token
        )

    async def UpdateConsentLevel(
        self, request: pb.UpdateConsentLevelRequest, context: Context
    ) -> pb.UpdateConsentLevelResponse:
        logic.validate_consent("consent_level", request.consent_level)
        row = await self._visible_row(request.relationship_id)
        if not logic.consent_change(row, request.consent_level):
            return pb.UpdateConsentLevelResponse(relationship=to_proto(row))
        updated = await self._store.set_consent(
            row.relationship_id, request.consent_level, self._now(), _actor(), request.reason
        )
        if updated is None:  # ended between our read and our write
            raise FailedPrecondition(f"relationship {row.relationship_id} has ended")
        await self._invalidate(updated)
        return pb.UpdateConsentLevelResponse(relationship=to_proto(updated))

    async def DeleteRelationship(
        self, request: pb.DeleteRelationshipRequest, context: Context
    ) -> pb.DeleteRelationshipResponse:
        row = await self._visible_row(request.relationship_id)
        if row.active:
            ended = await self._store.delete(
                row.relationship_id, self._now(), _actor(), request.reason
            )
            assert ended is not None
            row = ended
            await self._invalidate(row)
        return pb.DeleteRelationshipResponse(relationship=to_proto(row))

    async def CheckRelationship(
        self, request: pb.CheckRelationshipRequest, context: Context
    ) -> pb.CheckRelationshipResponse:
        logic.require_id("user_id", request.user_id)
        logic.require_id("resident_id", request.resident_id)

        async def load() -> bytes:
            row = await self._store.active_for(request.user_id, request.resident_id)
            if row is None:
                return pb.CheckRelationshipResponse(related=False).SerializeToString()
            return pb.CheckRelationshipResponse(
                related=True,
                relationship_id=row.relationship_id,
                kind=row.kind,  # type: ignore[arg-type]
                consent_level=row.consent_level,  # type: ignore[arg-type]
            ).SerializeToString()

        if self._cache is None:
            raw = await load()
        else:
            key = logic.check_cache_key(request.user_id, request.resident_id)
            raw = await self._cache.get(key, load) or await load()
        return pb.CheckRelationshipResponse.FromString(raw)
