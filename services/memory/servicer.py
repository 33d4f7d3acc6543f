"""gRPC adapter of the memory service."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.memory.v1 import memory_service_pb2 as pb
from lilo.memory.v1 import memory_service_pb2_grpc as pb_grpc

import mesh.context
from mesh.clock import Clock, SystemClock
from mesh.status import NotFound
from services.memory import logic
from services.memory.store import MemoryStore
from services.memory.vector import VectorIndex

Context: TypeAlias = aio.ServicerContext[Any, Any]


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def memory_proto(row: logic.MemoryRow) -> pb.Memory:
    return pb.Memory(
        memory_id=row.memory_id,
        user_id=row.user_id,
        type=row.type,  # type: ignore[arg-type]
        content=row.content,
        tags=list(row.tags),
        metadata=dict(row.metadata),
        created_at=_ts(row.created_at),
        access_count=row.access_count,
        last_accessed_at=_ts(row.last_accessed_at),
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


class MemoryServicer(pb_grpc.MemoryServiceServicer):
    def __init__(
        self,
        store: MemoryStore,
        *,
        vector: VectorIndex | None = None,
        clock: Clock | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._store = store
        self._vector = vector
        self._clock = clock or SystemClock()
        self._new_id = new_id

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.wall(), UTC)

    async def _visible(self, memory_id: str) -> logic.MemoryRow:
        logic.require("memory_id", memory_id)
        row = await self._store.get(memory_id)
        if row is None or not may_see(row.user_id):
            raise NotFound(f"memory {memory_id} not found")  # absent and hidden look alike
        return row

    async def CreateMemory(
        self, request: pb.CreateMemoryRequest, context: Context
    ) -> pb.CreateMemoryResponse:
        row = logic.MemoryRow(
            memory_id=self._new_id(),
            user_id=logic.require("user_id", request.user_id),
            type=logic.validate_type("type", request.type),
            content=logic.validate_content(request.content),
            tags=logic.normalize_tags("tags", request.tags),
            metadata=logic.validate_metadata(request.metadata),
            created_at=self._now(),
            access_count=0,
            last_accessed_at=None,
            deleted_at=None,
        )
        stored = await self._store.create(row)
        if self._vector is not None:
            await self._vector.upsert(stored.memory_id, stored.user_id, stored.content)
        return pb.CreateMemoryResponse(memory=memory_proto(stored))

    async def GetMemory(
        self, request: pb.GetMemoryRequest, context: Context
    ) -> pb.GetMemoryResponse:
        row = await self._visible(request.memory_id)
        counted = (
            await self._store.count_read(row.memory_id, self._now())
            if row.deleted_at is None
            else None
        )
        if counted is None:
            raise NotFound(f"memory {request.memory_id} not found")
        return pb.GetMemoryResponse(memory=memory_proto(counted))

    async def ListMemories(
        self, request: pb.ListMemoriesRequest, context: Context
    ) -> pb.ListMemoriesResponse:
        logic.require("user_id", request.user_id)
        size = logic.page_size(request.page_size)
        rows = await self._store.list_page(
            request.user_id,
            types=logic.validate_types(request.types),
            tags=logic.normalize_tags("tags", request.tags),
            after=logic.decode_cursor(request.page_token),
            limit=size + 1,
        )
        token = ""
        if len(rows) > size:
            rows = rows[:size]
            token = logic.encode_cursor(
                logic.Cursor(logic.to_micros(rows[-1].created_at), rows[-1].memory_id)
            )
        return pb.ListMemoriesResponse(
            memories=[memory_proto(r) for r in rows], next_page_token=token
        )

    async def DeleteMemory(
        self, request: pb.DeleteMemoryRequest, context: Context
    ) -> pb.DeleteMemoryResponse:
        row = await self._visible(request.memory_id)
        if row.deleted_at is None:
            await self._store.erase(row.memory_id, self._now())
            if self._vector is not None:
                await self._vector.delete(row.memory_id)
        return pb.DeleteMemoryResponse()

    async def SearchMemories(
        self, request: pb.SearchMemoriesRequest, context: Context
    ) -> pb.SearchMemoriesResponse:
        logic.require("user_id", request.user_id)
        query = logic.validate_query(request.query)
        hits = await self._store.search(
            request.user_id,
            query,
            types=logic.validate_types(request.types),
            tags=logic.normalize_tags("tags", request.tags),
            limit=logic.search_limit(request.limit),
        )
        results = []
        for hit in hits:
            snippet, ranges = logic.parse_headline(hit.headline)
            results.append(
                pb.MemorySearchResult(
                    memory=memory_proto(hit.memory),
                    score=hit.score,
                    snippet=snippet,
                    highlights=[pb.TextRange(start=s, end=e) for s, e in ranges],
                )
            )
        return pb.SearchMemoriesResponse(results=results)
