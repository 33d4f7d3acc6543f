"""MemoryService through a real grpc.aio server and a real PostgreSQL (full-text search)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import grpc
import pytest
from grpc import aio
from lilo.memory.v1 import memory_service_pb2 as pb
from lilo.memory.v1 import memory_service_pb2_grpc as pb_grpc

from mesh.clock import FakeClock
from mesh.testing import TestIdentity, serve
from services.memory.servicer import MemoryServicer
from services.memory.store import MemoryStore

FACT, PREFERENCE, EVENT, SUMMARY, CARE_NOTE = 1, 2, 3, 4, 5


@asynccontextmanager
async def running(
    pool: asyncpg.Pool, access: Any = None, clock: FakeClock | None = None
) -> AsyncIterator[pb_grpc.MemoryServiceStub]:
    servicer = MemoryServicer(MemoryStore(pool), clock=clock or FakeClock())
    async with (
        serve([servicer], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.MemoryServiceStub(channel)


async def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


def new(
    content: str, kind: int = FACT, tags: tuple[str, ...] = (), user: str = "res-1"
) -> pb.CreateMemoryRequest:
    return pb.CreateMemoryRequest(user_id=user, type=kind, content=content, tags=list(tags))


async def test_create_get_counts_reads_list_does_not(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    async with running(pool, clock=clock) as stub:
        made = (
            await stub.CreateMemory(
                pb.CreateMemoryRequest(
                    user_id="res-1",
                    type=FACT,
                    content="Grandson Leo visits on Sundays",
                    tags=["Family", "family", "Visits"],
                    metadata={"conversation_id": "c-9"},
                )
            )
        ).memory
        assert list(made.tags) == ["family", "visits"]
        assert made.metadata["conversation_id"] == "c-9" and made.access_count == 0
        assert not made.HasField("last_accessed_at")
        clock.advance(60)
        first = (await stub.GetMemory(pb.GetMemoryRequest(memory_id=made.memory_id))).memory
        second = (await stub.GetMemory(pb.GetMemoryRequest(memory_id=made.memory_id))).memory
        assert (first.access_count, second.access_count) == (1, 2)
        assert second.last_accessed_at.seconds == int(clock.wall())
        listed = await stub.ListMemories(pb.ListMemoriesRequest(user_id="res-1"))
        assert listed.memories[0].access_count == 2
        await stub.SearchMemories(pb.SearchMemoriesRequest(user_id="res-1", query="Leo"))
        again = (await stub.GetMemory(pb.GetMemoryRequest(memory_id=made.memory_id))).memory
        assert again.access_count == 3  # neither List nor Search counted


async def test_full_text_search_ranks_and_highlights(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    async with running(pool, clock=clock) as stub:
        garden = (
            await stub.CreateMemory(
                new(
                    "Gardening aside, she once received roses from a neighbour, long ago.",
                    PREFERENCE,
                    ("garden",),
                )
            )
        ).memory
        clock.advance(1)
        both = (
            await stub.CreateMemory(
                new(
                    "Roses gardening with Leo and tulips; roses gardening again.",
                    EVENT,
                )
            )
        ).memory
        clock.advance(1)
        await stub.CreateMemory(new("Prefers tea without sugar.", PREFERENCE))
        await stub.CreateMemory(new("Her roses are lovely", FACT, user="res-2"))

        found = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="roses gardening")
        )
        ids = [r.memory.memory_id for r in found.results]
        assert set(ids) == {garden.memory_id, both.memory_id}  # other user's memory excluded
        assert ids[0] == both.memory_id  # more and tighter covers rank higher
        assert found.results[0].score > found.results[1].score > 0
        for result in found.results:
            marked = [result.snippet[h.start : h.end].lower() for h in result.highlights]
            assert marked and all(m.startswith(("rose", "garden")) for m in marked)
            assert all(
                a.end <= b.start
                for a, b in zip(result.highlights, result.highlights[1:], strict=False)
            )

        # websearch syntax: quoted phrase and exclusion.
        excluded = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="roses -tulips")
        )
        assert [r.memory.memory_id for r in excluded.results] == [garden.memory_id]
        filtered = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="roses", tags=["GARDEN"])
        )
        assert [r.memory.memory_id for r in filtered.results] == [garden.memory_id]
        typed = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="roses", types=[EVENT])
        )
        assert [r.memory.memory_id for r in typed.results] == [both.memory_id]
        stop_words = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="the and")
        )
        assert not stop_words.results
        limited = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="roses", limit=1)
        )
        assert len(limited.results) == 1


async def test_highlights_count_code_points_not_bytes(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        await stub.CreateMemory(new("Über 👵👵 café: Oma liebt Kuchen und Kaffee"))
        found = await stub.SearchMemories(pb.SearchMemoriesRequest(user_id="res-1", query="kaffee"))
        result = found.results[0]
        assert [result.snippet[h.start : h.end] for h in result.highlights] == ["Kaffee"]


async def test_delete_erases_and_is_idempotent(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        made = (
            await stub.CreateMemory(new("Allergic to penicillin", CARE_NOTE, ("health",)))
        ).memory
        await stub.DeleteMemory(pb.DeleteMemoryRequest(memory_id=made.memory_id))
        await stub.DeleteMemory(pb.DeleteMemoryRequest(memory_id=made.memory_id))  # again: fine
        code, _ = await code_of(stub.GetMemory(pb.GetMemoryRequest(memory_id=made.memory_id)))
        assert code is grpc.StatusCode.NOT_FOUND
        found = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="penicillin")
        )
        assert not found.results
        assert not (await stub.ListMemories(pb.ListMemoriesRequest(user_id="res-1"))).memories
        code, _ = await code_of(stub.DeleteMemory(pb.DeleteMemoryRequest(memory_id="never")))
        assert code is grpc.StatusCode.NOT_FOUND
    row = await pool.fetchrow(
        "SELECT content, tags, metadata, search_vector::text AS v"
        " FROM memory.memories WHERE memory_id = $1",
        made.memory_id,
    )
    assert row is not None
    assert (row["content"], row["tags"], row["metadata"], row["v"]) == ("", [], "{}", "")


async def test_list_pages_and_filters(pool: asyncpg.Pool) -> None:
    clock = FakeClock()
    async with running(pool, clock=clock) as stub:
        ids = []
        for i in range(5):
            clock.advance(1)
            tags = ("a", "b") if i % 2 else ("a",)
            ids.append(
                (
                    await stub.CreateMemory(new(f"memory {i}", FACT if i < 3 else EVENT, tags))
                ).memory.memory_id
            )
        seen: list[str] = []
        token = ""
        while True:
            page = await stub.ListMemories(
                pb.ListMemoriesRequest(user_id="res-1", page_size=2, page_token=token)
            )
            seen += [m.memory_id for m in page.memories]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids[::-1]
        both_tags = await stub.ListMemories(
            pb.ListMemoriesRequest(user_id="res-1", tags=["a", "B"])
        )
        assert [m.memory_id for m in both_tags.memories] == [ids[3], ids[1]]
        events = await stub.ListMemories(pb.ListMemoriesRequest(user_id="res-1", types=[EVENT]))
        assert [m.memory_id for m in events.memories] == [ids[4], ids[3]]


async def test_bad_input(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        for request, field in [
            (new(""), "content"),
            (new("x", kind=0), "type"),
            (new("x", tags=("",)), "tags"),
            (new("x" * (16 * 1024 + 1)), "content"),
            (new("x", user=""), "user_id"),
        ]:
            code, details = await code_of(stub.CreateMemory(request))
            assert code is grpc.StatusCode.INVALID_ARGUMENT and field in details, details
        code, details = await code_of(
            stub.SearchMemories(pb.SearchMemoriesRequest(user_id="res-1"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "query" in details
        code, details = await code_of(
            stub.SearchMemories(pb.SearchMemoriesRequest(user_id="res-1", query="x", limit=-1))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "limit" in details
        code, details = await code_of(stub.GetMemory(pb.GetMemoryRequest()))
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "memory_id" in details


async def test_permissions_through_real_access_controller(pool: asyncpg.Pool) -> None:
    identity = TestIdentity()
    resident = identity.bearer("resident", subject="res-1")
    other = identity.bearer("resident", subject="res-2")
    provider = identity.bearer(
        "health_provider", subject="dr-1", relations=[("res-1", "provider", "full")]
    )
    async with running(pool, access=identity.access) as stub:
        mine = (await stub.CreateMemory(new("Likes jazz"), metadata=resident)).memory
        theirs = (await stub.CreateMemory(new("Likes chess", user="res-2"), metadata=other)).memory
        # Another resident's memory, named by id: NOT_FOUND, never PERMISSION_DENIED.
        code, _ = await code_of(
            stub.GetMemory(pb.GetMemoryRequest(memory_id=mine.memory_id), metadata=other)
        )
        assert code is grpc.StatusCode.NOT_FOUND
        code, _ = await code_of(
            stub.DeleteMemory(pb.DeleteMemoryRequest(memory_id=mine.memory_id), metadata=other)
        )
        assert code is grpc.StatusCode.NOT_FOUND
        # Named by user: the mesh denies it before the handler runs.
        code, _ = await code_of(
            stub.ListMemories(pb.ListMemoriesRequest(user_id="res-1"), metadata=other)
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED
        # A provider reads an assigned resident's memories but not others', and cannot write.
        got = await stub.GetMemory(pb.GetMemoryRequest(memory_id=mine.memory_id), metadata=provider)
        assert got.memory.content == "Likes jazz"
        code, _ = await code_of(
            stub.GetMemory(pb.GetMemoryRequest(memory_id=theirs.memory_id), metadata=provider)
        )
        assert code is grpc.StatusCode.NOT_FOUND
        code, details = await code_of(stub.CreateMemory(new("note"), metadata=provider))
        assert code is grpc.StatusCode.PERMISSION_DENIED and "no_permission" in details
        found = await stub.SearchMemories(
            pb.SearchMemoriesRequest(user_id="res-1", query="jazz"), metadata=provider
        )
        assert [r.memory.memory_id for r in found.results] == [mine.memory_id]
