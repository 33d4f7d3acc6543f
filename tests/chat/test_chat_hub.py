"""ChatHubService: two participants on two hub instances sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio
from lilo.chat.v1 import chat_hub_service_pb2 as hub_pb
from lilo.chat.v1 import chat_hub_service_pb2_grpc as hub_grpc
from lilo.chat.v1 import chat_service_pb2 as pb
from lilo.chat.v1 import chat_service_pb2_grpc as pb_grpc

ChatStack = Any  # the chat_stack fixture (tests/chat/conftest.py)
Frame = hub_pb.ChatResponse


async def read_until(call: Any, want: Callable[[Frame], bool]) -> list[Frame]:
    """Frames up to and including the first that satisfies ``want``."""
    frames: list[Frame] = []
    async with asyncio.timeout(10):
        while True:
            frame = await call.read()
            assert frame is not aio.EOF, f"stream ended; got {frames}"
            frames.append(frame)
            if want(frame):
                return frames


def delivered(seq: int) -> Callable[[Frame], bool]:
    return lambda f: f.WhichOneof("kind") == "delivered" and f.delivered.sequence == seq


def presence_of(user: str, state: int) -> Callable[[Frame], bool]:
    return lambda f: (
        f.WhichOneof("kind") == "presence_changed"
        and f.presence_changed.user_id == user
        and f.presence_changed.state == state
    )


def join(cid: str, acked: int | None = None) -> hub_pb.ChatRequest:
    j = hub_pb.ChatJoin(conversation_id=cid)
    if acked is not None:
        j.last_acked_sequence = acked
    return hub_pb.ChatRequest(join=j)


def send(key: str, text: str) -> hub_pb.ChatRequest:
    return hub_pb.ChatRequest(send=hub_pb.ChatSend(client_message_id=key, text=text))


async def test_two_instances_exchange_messages_presence_and_resume(chat_stack: ChatStack) -> None:
    server_a, _ = await chat_stack.start_chat()
    server_b, _ = await chat_stack.start_chat()
    res_md = chat_stack.identity.bearer("resident", "res-1")
    fam_md = chat_stack.identity.bearer(
        "family_member", "fam-1", relations=[("res-1", "family", "full")]
    )
    async with (
        aio.insecure_channel(server_a.address) as ch_a,
        aio.insecure_channel(server_b.address) as ch_b,
    ):
        created = await pb_grpc.ChatServiceStub(ch_a).CreateConversation(
            pb.CreateConversationRequest(resident_id="res-1", type=pb.CONVERSATION_TYPE_FAMILY),
            metadata=res_md,
        )
        cid = created.conversation.conversation_id
        hub_a, hub_b = hub_grpc.ChatHubServiceStub(ch_a), hub_grpc.ChatHubServiceStub(ch_b)

        resident = hub_a.Chat(metadata=res_md)
        await resident.write(join(cid))
        joined = (await read_until(resident, lambda f: f.HasField("joined")))[-1].joined
        assert joined.last_sequence == 0 and list(joined.present) == []

        fam = hub_b.Chat(metadata=fam_md)
        await fam.write(join(cid))
        joined = (await read_until(fam, lambda f: f.HasField("joined")))[-1].joined
        assert [(p.user_id, p.state) for p in joined.present] == [
            ("res-1", hub_pb.PRESENCE_STATE_ONLINE)
        ]
        await read_until(resident, presence_of("fam-1", hub_pb.PRESENCE_STATE_ONLINE))

        # A send on instance B is stored, accepted, and delivered on both instances.
        await fam.write(send("c1", "hello from B"))
        frames = await read_until(fam, delivered(1))
        frames += (
            await read_until(fam, lambda f: f.HasField("send_accepted"))
            if not any(f.HasField("send_accepted") for f in frames)
            else []
        )
        accepted = [f.send_accepted for f in frames if f.HasField("send_accepted")]
        assert [(a.client_message_id, a.sequence) for a in accepted] == [("c1", 1)]
        got = (await read_until(resident, delivered(1)))[-1].delivered
        assert (got.sender_id, got.text, got.client_message_id) == ("fam-1", "hello from B", "c1")

        # Presence travels across instances too.
        await resident.write(
            hub_pb.ChatRequest(
                presence=hub_pb.ChatPresenceUpdate(state=hub_pb.PRESENCE_STATE_TYPING)
            )
        )
        typing = (await read_until(fam, presence_of("res-1", hub_pb.PRESENCE_STATE_TYPING)))[-1]
        assert typing.presence_changed.HasField("expires_at")

        # Bad sends are refused without closing the stream.
        await resident.write(send("bad", ""))
        rejected = (await read_until(resident, lambda f: f.HasField("send_rejected")))[-1]
        assert rejected.send_rejected.status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "send.text" in rejected.send_rejected.status.message

        # The resident acks 1 and drops; the family member goes on writing.
        await resident.write(hub_pb.ChatRequest(ack=hub_pb.ChatAck(sequence=1)))
        await resident.done_writing()
        assert await resident.read() is aio.EOF
        await read_until(fam, presence_of("res-1", hub_pb.PRESENCE_STATE_OFFLINE))
        await fam.write(send("c2", "are you there?"))
        await fam.write(send("c3", "call me"))
        await read_until(fam, delivered(3))

        # Reconnecting (to the other instance) with last_acked_sequence gets what it missed.
        again = hub_b.Chat(metadata=res_md)
        await again.write(join(cid, acked=1))
        frames = await read_until(again, delivered(3))
        assert frames[0].joined.last_sequence == 3
        assert [f.delivered.text for f in frames if f.HasField("delivered")] == [
            "are you there?",
            "call me",
        ]
        # And it is live afterwards: exactly-once delivery of the next message.
        await fam.write(send("c4", "good"))
        frames = await read_until(again, delivered(4))
        assert [f.delivered.sequence for f in frames if f.HasField("delivered")] == [4]
        assert await chat_stack.redis.hget(f"chat:{{{cid}}}:acks", "res-1") == b"1"
        again.cancel()
        fam.cancel()


async def test_join_must_come_first_and_respects_relations(chat_stack: ChatStack) -> None:
    server, _ = await chat_stack.start_chat()
    res_md = chat_stack.identity.bearer("resident", "res-1")
    async with aio.insecure_channel(server.address) as ch:
        created = await pb_grpc.ChatServiceStub(ch).CreateConversation(
            pb.CreateConversationRequest(resident_id="res-1"), metadata=res_md
        )
        cid = created.conversation.conversation_id
        hub = hub_grpc.ChatHubServiceStub(ch)

        call = hub.Chat(metadata=res_md)
        await call.write(send("k", "no join yet"))
        assert await call.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "join" in (await call.details() or "")

        other = chat_stack.identity.bearer(
            "family_member", "fam-9", relations=[("res-2", "family", "full")]
        )
        call = hub.Chat(metadata=other)
        await call.write(join(cid))
        assert await call.code() == grpc.StatusCode.NOT_FOUND

        stranger = chat_stack.identity.bearer("family_member", "fam-8")
        call = hub.Chat(metadata=stranger)
        await call.write(join(cid))
        assert await call.code() == grpc.StatusCode.PERMISSION_DENIED
