"""ChatService on a real grpc.aio server, PostgreSQL, Redis and the real access controller."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.chat.v1 import chat_service_pb2 as pb
from lilo.chat.v1 import chat_service_pb2_grpc as pb_grpc

from services.chat.live import messages_channel
from services.chat.store import NewMessage, Safety

ChatStack = Any  # the chat_stack fixture (tests/chat/conftest.py)


def resident(stack: ChatStack, subject: str = "res-1") -> list[tuple[str, str]]:
    return stack.identity.bearer("resident", subject)


def family(
    stack: ChatStack, subject: str, *relations: tuple[str, str, str]
) -> list[tuple[str, str]]:
    return stack.identity.bearer("family_member", subject, relations=relations)


async def setup(stack: ChatStack) -> tuple[pb_grpc.ChatServiceStub, aio.Channel]:
    server, _ = await stack.start_chat()
    channel = aio.insecure_channel(server.address)
    return pb_grpc.ChatServiceStub(channel), channel


async def new_conversation(stub: pb_grpc.ChatServiceStub, md: list[tuple[str, str]]) -> str:
    resp = await stub.CreateConversation(
        pb.CreateConversationRequest(resident_id="res-1"), metadata=md
    )
    return resp.conversation.conversation_id


async def append(
    stub: pb_grpc.ChatServiceStub, md: list[tuple[str, str]], cid: str, text: str, key: str
) -> pb.AppendMessageResponse:
    return await stub.AppendMessage(
        pb.AppendMessageRequest(conversation_id=cid, content=text, client_message_id=key),
        metadata=md,
    )


async def test_messages_page_newest_first_with_cursor(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        for i in range(1, 6):
            sent = await append(stub, md, cid, f"message {i}", f"k{i}")
            assert sent.message.sequence == i
            assert sent.message.sender_id == "res-1"
            assert sent.message.sender_role == pb.SENDER_ROLE_RESIDENT
        pages: list[list[int]] = []
        token = ""
        while True:
            page = await stub.ListMessages(
                pb.ListMessagesRequest(conversation_id=cid, page_size=2, page_token=token),
                metadata=md,
            )
            pages.append([m.sequence for m in page.messages])
            token = page.next_page_token
            if not token:
                break
        assert pages == [[5, 4], [3, 2], [1]]
        before = await stub.ListMessages(
            pb.ListMessagesRequest(conversation_id=cid, before_sequence=3), metadata=md
        )
        assert [m.sequence for m in before.messages] == [2, 1]
        assert before.next_page_token == ""
        conv = await stub.GetConversation(
            pb.GetConversationRequest(conversation_id=cid), metadata=md
        )
        assert conv.conversation.last_sequence == 5
        assert conv.conversation.type == pb.CONVERSATION_TYPE_THERAPEUTIC
        with pytest.raises(aio.AioRpcError) as err:
            await stub.ListMessages(
                pb.ListMessagesRequest(
                    conversation_id=cid, page_token=token or "x", before_sequence=2
                ),
                metadata=md,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (err.value.details() or "")
    # The time-series layout: the row sits in the month's partition (FakeClock: 2025-01).
    part = await chat_stack.pool.fetchval(
        "SELECT DISTINCT tableoid::regclass::text FROM chat.messages"
    )
    assert part == "chat.messages_2025_01"


async def test_append_is_idempotent_by_client_message_id(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        first = await append(stub, md, cid, "hello", "same-key")
        again = await append(stub, md, cid, "hello (resent)", "same-key")
        assert not first.deduplicated
        assert again.deduplicated
        assert again.message.message_id == first.message.message_id
        assert again.message.content == "hello"
        listed = await stub.ListMessages(pb.ListMessagesRequest(conversation_id=cid), metadata=md)
        assert len(listed.messages) == 1
    assert len(chat_stack.crisis.calls) == 1  # a retried send is not screened twice


async def test_concurrent_duplicate_appends_store_one_message(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        results = await asyncio.gather(*(append(stub, md, cid, "hi", "race") for _ in range(5)))
        assert len({r.message.message_id for r in results}) == 1
        assert sum(not r.deduplicated for r in results) == 1
    count = await chat_stack.pool.fetchval("SELECT count(*) FROM chat.messages")
    assert count == 1


async def test_crisis_message_raises_alert_and_counts_in_analytics(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        calm = await append(stub, md, cid, "nice walk today", "a")
        crisis = await append(stub, md, cid, "I want to kill myself", "b")
        assert calm.alert_id == ""
        assert not calm.message.safety.crisis_detected
        assert crisis.alert_id.startswith("alert-")
        assert crisis.message.safety.crisis_detected
        assert crisis.message.safety.crisis_level == 5  # CRITICAL
        assert list(crisis.message.safety.crisis_categories) == [1]  # SUICIDAL_IDEATION
        other = await new_conversation(stub, md)
        await append(stub, md, other, "second conversation", "c")
        chat_stack.clock.advance(86_400)
        await append(stub, md, other, "next day", "d")
        days = await stub.GetDailyAnalytics(
            pb.GetDailyAnalyticsRequest(
                resident_id="res-1", start_date="2024-12-31", end_date="2025-01-03"
            ),
            metadata=md,
        )
    got = [(d.date, d.conversation_count, d.total_messages, d.crisis_incidents) for d in days.days]
    assert got == [
        ("2024-12-31", 0, 0, 0),
        ("2025-01-01", 2, 3, 1),
        ("2025-01-02", 1, 1, 0),
        ("2025-01-03", 0, 0, 0),
    ]
    assert chat_stack.crisis.calls[1].resident_id == "res-1"
    assert chat_stack.crisis.calls[1].source == "chat"


async def test_screening_unavailable_stores_nothing(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        chat_stack.crisis.fail = grpc.StatusCode.UNAVAILABLE
        with pytest.raises(aio.AioRpcError) as err:
            await append(stub, md, cid, "hello", "k1")
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        listed = await stub.ListMessages(pb.ListMessagesRequest(conversation_id=cid), metadata=md)
        assert list(listed.messages) == []
        chat_stack.crisis.fail = None  # the same send works once screening is back
        ok = await append(stub, md, cid, "hello", "k1")
        assert ok.message.sequence == 1 and not ok.deduplicated


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (
            pb.AppendMessageRequest(conversation_id="nope", content="x", client_message_id="k"),
            "conversation_id",
        ),
        (pb.AppendMessageRequest(content="x", client_message_id="k"), "conversation_id"),
    ],
)
async def test_bad_conversation_id_is_invalid_argument(
    chat_stack: ChatStack, request_: pb.AppendMessageRequest, field: str
) -> None:
    stub, channel = await setup(chat_stack)
    async with channel:
        with pytest.raises(aio.AioRpcError) as err:
            await stub.AppendMessage(request_, metadata=resident(chat_stack))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (err.value.details() or "")


async def test_bad_message_fields_are_invalid_argument(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        cases = [
            (
                pb.AppendMessageRequest(conversation_id=cid, content="  ", client_message_id="k"),
                "content",
            ),
            (
                pb.AppendMessageRequest(
                    conversation_id=cid, content="x" * 16385, client_message_id="k"
                ),
                "content",
            ),
            (pb.AppendMessageRequest(conversation_id=cid, content="x"), "client_message_id"),
        ]
        for request, field in cases:
            with pytest.raises(aio.AioRpcError) as err:
                await stub.AppendMessage(request, metadata=md)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in (err.value.details() or "")
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetDailyAnalytics(
                pb.GetDailyAnalyticsRequest(
                    resident_id="res-1", start_date="2025-02-01", end_date="2025-01-01"
                ),
                metadata=md,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "end_date" in (err.value.details() or "")
        with pytest.raises(aio.AioRpcError) as err:
            await stub.AppendMessage(
                pb.AppendMessageRequest(
                    conversation_id=cid, content="x", client_message_id="k", sender_id="res-2"
                ),
                metadata=md,
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "sender_id" in (err.value.details() or "")
    assert chat_stack.crisis.calls == []  # invalid input never reaches screening


async def test_family_access_follows_relations(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    async with channel:
        cid = await new_conversation(stub, resident(chat_stack))
        await append(stub, resident(chat_stack), cid, "hello family", "k1")
        related = family(chat_stack, "fam-1", ("res-1", "family", "full"))
        got = await stub.GetConversation(
            pb.GetConversationRequest(conversation_id=cid), metadata=related
        )
        assert got.conversation.resident_id == "res-1"
        listed = await stub.ListMessages(
            pb.ListMessagesRequest(conversation_id=cid), metadata=related
        )
        assert [m.content for m in listed.messages] == ["hello family"]
        convs = await stub.ListConversations(
            pb.ListConversationsRequest(resident_id="res-1"), metadata=related
        )
        assert [c.conversation_id for c in convs.conversations] == [cid]

        stranger = family(chat_stack, "fam-2")  # no family relation at all
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetConversation(
                pb.GetConversationRequest(conversation_id=cid), metadata=stranger
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(aio.AioRpcError) as err:
            await stub.ListConversations(
                pb.ListConversationsRequest(resident_id="res-1"), metadata=stranger
            )
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # Related to someone else: the call is admitted, the record is not shown (no leak).
        other = family(chat_stack, "fam-3", ("res-2", "family", "full"))
        with pytest.raises(aio.AioRpcError) as err:
            await stub.ListMessages(pb.ListMessagesRequest(conversation_id=cid), metadata=other)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND

        with pytest.raises(aio.AioRpcError) as err:
            await stub.GetConversation(
                pb.GetConversationRequest(conversation_id=cid),
                metadata=resident(chat_stack, "res-2"),
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def collect(stream: AsyncIterator[pb.WatchMessagesResponse], until: int) -> list[int]:
    seen: list[int] = []
    async with asyncio.timeout(10):
        async for item in stream:
            seen.append(item.message.sequence)
            if item.message.sequence >= until:
                return seen
    return seen


async def test_watch_resumes_without_gap_or_duplicate(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        for i in range(1, 4):
            await append(stub, md, cid, f"m{i}", f"k{i}")
        call = stub.WatchMessages(
            pb.WatchMessagesRequest(conversation_id=cid, resume_after_sequence=1), metadata=md
        )
        stream = call.__aiter__()
        first = await anext(stream)
        assert first.message.sequence == 2  # replay from PostgreSQL
        # Written while the stream is mid-replay: they must come exactly once, in order.
        for i in range(4, 7):
            await append(stub, md, cid, f"m{i}", f"k{i}")
        rest = await collect(stream, until=6)
        assert [first.message.sequence, *rest] == [2, 3, 4, 5, 6]
        await append(stub, md, cid, "m7", "k7")
        assert await collect(stream, until=7) == [7]
        call.cancel()


async def test_watch_live_only_then_fills_gaps_from_storage(chat_stack: ChatStack) -> None:
    stub, channel = await setup(chat_stack)
    md = resident(chat_stack)
    async with channel:
        cid = await new_conversation(stub, md)
        await append(stub, md, cid, "before watching", "k0")
        call = stub.WatchMessages(pb.WatchMessagesRequest(conversation_id=cid), metadata=md)
        stream = call.__aiter__()
        pending = asyncio.ensure_future(anext(stream))
        # Wait on the real condition (the server's subscription exists), not on time.
        async with asyncio.timeout(10):
            # (No event to await: the condition lives in Redis, so poll it, yielding only.)
            while True:
                if (await chat_stack.redis.pubsub_numsub(messages_channel(cid)))[0][1] >= 1:
                    break
                await asyncio.sleep(0)
        # Stored but never published (as if the publish was lost): the next live message
        # must bring it along from storage.
        core = (await chat_stack.start_chat())[1]
        conv = await core.store.get_conversation(uuid.UUID(cid))
        assert conv is not None
        await core.store.append(
            NewMessage(
                conv.conversation_id, "res-1", "res-1", 1, "lost publish", "lost", Safety(), ""
            ),
            core.now(),
        )
        await append(stub, md, cid, "after", "k2")
        first = await asyncio.wait_for(pending, 10)
        rest = await collect(stream, until=3) if first.message.sequence < 3 else []
        assert [first.message.sequence, *rest] == [2, 3]
        assert first.message.content == "lost publish"
        call.cancel()
