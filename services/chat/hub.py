"""ChatHubService: one bidi stream per participant and conversation.

Every instance talks to the same PostgreSQL and Redis, so two participants connected to
different instances see each other: sends are stored through ``ChatCore.append`` (screened,
numbered) and published on the conversation's Redis channel; every instance holding a
stream for that conversation delivers them in sequence order, repairing gaps and dropping
repeats against storage (``LiveOrder``). Delivery is at-least-once: a client that rejoins
with ``last_acked_sequence`` gets every stored message after it before live ones.

Presence lives in a Redis hash with an expiry per entry (``PresenceStore``); changes are
published on a second channel. Joining marks the participant ONLINE, leaving publishes
OFFLINE. A participant whose hub died is reported present until its entry lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import status_pb2
from grpc import aio
from lilo.chat.v1 import chat_hub_service_pb2 as hub_pb
from lilo.chat.v1 import chat_hub_service_pb2_grpc as hub_grpc
from lilo.chat.v1 import chat_service_pb2 as pb

from mesh import context
from mesh.status import InvalidArgument, ServiceError, Unauthenticated
from services.chat import logic
from services.chat.core import ChatCore
from services.chat.live import (
    PresenceEntry,
    PresenceStore,
    Subscription,
    acks_key,
    messages_channel,
    presence_channel,
)
from services.chat.store import ConversationRow

log = logging.getLogger(__name__)

Ctx: TypeAlias = "aio.ServicerContext[Any, Any]"
_CLIENT_STATES = frozenset(
    {hub_pb.PRESENCE_STATE_ONLINE, hub_pb.PRESENCE_STATE_AWAY, hub_pb.PRESENCE_STATE_TYPING}
)


@dataclass(frozen=True)
class HubConfig:
    presence_ttl: float = 60.0
    """Seconds an ONLINE/AWAY state lasts unless refreshed."""
    typing_ttl: float = 10.0
    """Seconds a TYPING state lasts: typing indicators must not linger."""


def _ts(epoch: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None))
    return ts


def _delivered(m: pb.Message) -> hub_pb.ChatResponse:
    return hub_pb.ChatResponse(
        delivered=hub_pb.ChatDelivered(
            conversation_id=m.conversation_id,
            sequence=m.sequence,
            message_id=m.message_id,
            sender_id=m.sender_id,
            text=m.content,
            sent_at=m.sent_at,
            client_message_id=m.client_message_id,
        )
    )


def _presence(entry: PresenceEntry) -> hub_pb.ChatPresenceChanged:
    change = hub_pb.ChatPresenceChanged(user_id=entry.user_id, state=entry.state)  # type: ignore[arg-type]
    if entry.state != hub_pb.PRESENCE_STATE_OFFLINE:
        change.expires_at.CopyFrom(_ts(entry.expires_at))
    return change


Frame = hub_pb.ChatResponse | BaseException | None


class ChatHubServicer(hub_grpc.ChatHubServiceServicer):
    def __init__(self, core: ChatCore, config: HubConfig | None = None) -> None:
        self.core = core
        self.config = config or HubConfig()
        self.presence = PresenceStore(core.redis)

    async def Chat(
        self, request_iterator: AsyncIterator[hub_pb.ChatRequest], context_: Ctx
    ) -> AsyncIterator[hub_pb.ChatResponse]:
        caller = logic.caller_of(context.principal())
        if caller is None:
            raise Unauthenticated("chat needs an authenticated participant")
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        if first.WhichOneof("kind") != "join":
            raise InvalidArgument("join must be the first request")
        join = first.join
        conv = await self.core.conversation(join.conversation_id, "join.conversation_id")
        acked = join.last_acked_sequence if join.HasField("last_acked_sequence") else None
        if acked is not None and acked < 0:
            raise InvalidArgument("join.last_acked_sequence must not be negative")
        cid = str(conv.conversation_id)
        out: asyncio.Queue[Frame] = asyncio.Queue()
        async with Subscription(
            self.core.redis, messages_channel(cid), presence_channel(cid)
        ) as sub:
            fresh = await self.core.store.get_conversation(conv.conversation_id)
            last = fresh.last_sequence if fresh else conv.last_sequence
            present = await self.presence.present(cid, self.core.clock.wall())
            yield hub_pb.ChatResponse(
                joined=hub_pb.ChatJoined(
                    conversation_id=cid,
                    last_sequence=last,
                    present=[_presence(e) for e in present],
                )
            )
            await self._set_presence(cid, caller.subject, hub_pb.PRESENCE_STATE_ONLINE)
            order = logic.LiveOrder(acked if acked is not None else last)
            if acked is not None:
                async for message in self.core.replay(conv.conversation_id, order):
                    yield _delivered(message)
            tasks = [
                asyncio.create_task(self._read(request_iterator, conv, caller, out)),
                asyncio.create_task(self._listen(sub, conv, caller.subject, order, out)),
            ]
            try:
                while True:
                    frame = await out.get()
                    if frame is None:
                        return
                    if isinstance(frame, BaseException):
                        raise frame
                    yield frame
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._leave(cid, caller.subject))

    async def _read(
        self,
        requests: AsyncIterator[hub_pb.ChatRequest],
        conv: ConversationRow,
        caller: logic.Caller,
        out: asyncio.Queue[Frame],
    ) -> None:
        cid = str(conv.conversation_id)
        try:
            async for request in requests:
                kind = request.WhichOneof("kind")
                if kind == "join":
                    raise InvalidArgument("join is allowed once per stream")
                if kind == "send":
                    await out.put(await self._send(conv, caller, request.send))
                elif kind == "ack":
                    if request.ack.sequence < 0:
                        raise InvalidArgument("ack.sequence must not be negative")
                    await self._ack(cid, caller.subject, request.ack.sequence)
                elif kind == "presence" and request.presence.state in _CLIENT_STATES:
                    await self._set_presence(cid, caller.subject, request.presence.state)
            await out.put(None)  # the client half-closed: end the stream
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await out.put(exc)

    async def _send(
        self, conv: ConversationRow, caller: logic.Caller, send: hub_pb.ChatSend
    ) -> hub_pb.ChatResponse:
        try:
            result = await self.core.append(
                conv,
                caller,
                sender_id="",
                sender_role=0,
                content=send.text,
                client_message_id=send.client_message_id,
                content_field="send.text",
            )
        except ServiceError as exc:
            return hub_pb.ChatResponse(
                send_rejected=hub_pb.ChatSendRejected(
                    client_message_id=send.client_message_id,
                    status=status_pb2.Status(code=exc.code.value[0], message=exc.message),
                )
            )
        return hub_pb.ChatResponse(
            send_accepted=hub_pb.ChatSendAccepted(
                client_message_id=send.client_message_id, sequence=result.message.sequence
            )
        )

    async def _listen(
        self,
        sub: Subscription,
        conv: ConversationRow,
        me: str,
        order: logic.LiveOrder,
        out: asyncio.Queue[Frame],
    ) -> None:
        messages, presence = (
            messages_channel(str(conv.conversation_id)),
            presence_channel(str(conv.conversation_id)),
        )
        try:
            async for channel, payload in sub:
                if channel == messages:
                    live = pb.Message.FromString(payload)
                    async for message in self.core.in_order(conv.conversation_id, order, live):
                        await out.put(_delivered(message))
                elif channel == presence:
                    change = hub_pb.ChatPresenceChanged.FromString(payload)
                    if change.user_id != me:
                        await out.put(hub_pb.ChatResponse(presence_changed=change))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await out.put(exc)

    async def _set_presence(self, cid: str, user: str, state: int) -> None:
        now = self.core.clock.wall()
        ttl = (
            self.config.typing_ttl
            if state == hub_pb.PRESENCE_STATE_TYPING
            else self.config.presence_ttl
        )
        entry = PresenceEntry(user, state, now + ttl)
        await self.presence.set(cid, entry, max(ttl, self.config.presence_ttl), now)
        await self.core.redis.publish(presence_channel(cid), _presence(entry).SerializeToString())

    async def _leave(self, cid: str, user: str) -> None:
        await self.presence.remove(cid, user)
        change = _presence(PresenceEntry(user, hub_pb.PRESENCE_STATE_OFFLINE, 0.0))
        await self.core.redis.publish(presence_channel(cid), change.SerializeToString())

    async def _ack(self, cid: str, user: str, sequence: int) -> None:
        """Remember the highest acknowledged sequence (for unread counts and operators)."""
        key = acks_key(cid)
        current = await self.core.redis.hget(key, user)
        if current is None or int(current) < sequence:
            await self.core.redis.hset(key, user, sequence)
