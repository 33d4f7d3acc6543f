"""ChatService: conversations, screened appends, newest-first pages, analytics, watch.

``ChatHubServicer`` (the live bidi hub) lives in ``hub.py`` and is re-exported here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from grpc import aio
from lilo.chat.v1 import chat_service_pb2 as pb
from lilo.chat.v1 import chat_service_pb2_grpc as pb_grpc

from mesh import context
from mesh.clock import Clock, SystemClock
from mesh.status import InvalidArgument, NotFound
from services.chat import logic
from services.chat.core import (
    ChatCore,
    Screener,
    conversation_pb,
    message_pb,
    visible_residents,
)
from services.chat.hub import ChatHubServicer
from services.chat.live import Subscription, messages_channel
from services.chat.store import ChatStore

__all__ = ["ChatHubServicer", "ChatServicer"]

Ctx: TypeAlias = "aio.ServicerContext[Any, Any]"


def _caller() -> logic.Caller | None:
    return logic.caller_of(context.principal())


class ChatServicer(pb_grpc.ChatServiceServicer):
    def __init__(
        self,
        store: ChatStore,
        screener: Screener,
        redis: aioredis.Redis,
        clock: Clock | None = None,
        *,
        core: ChatCore | None = None,
    ) -> None:
        self.core = core or ChatCore(store, screener, redis, clock or SystemClock())
        self.store = self.core.store

    async def CreateConversation(
        self, request: pb.CreateConversationRequest, context: Ctx
    ) -> pb.CreateConversationResponse:
        if not request.resident_id:
            raise InvalidArgument("resident_id is required")
        caller = _caller()
        row = await self.store.create_conversation(
            resident_id=request.resident_id,
            created_by=caller.subject if caller else "",
            type=logic.conversation_type(request.type),
            title=logic.validate_title(request.title),
            now=self.core.now(),
        )
        return pb.CreateConversationResponse(conversation=conversation_pb(row))

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Ctx
    ) -> pb.GetConversationResponse:
        row = await self.core.conversation(request.conversation_id)
        return pb.GetConversationResponse(conversation=conversation_pb(row))

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Ctx
    ) -> pb.ListConversationsResponse:
        size = logic.page_size(request.page_size)
        for t in request.types:
            if t not in pb.ConversationType.values() or t == pb.CONVERSATION_TYPE_UNSPECIFIED:
                raise InvalidArgument(f"types contains {t}, which is not a ConversationType")
        visible = visible_residents()
        if request.resident_id:
            if not logic.visible(request.resident_id, visible):
                return pb.ListConversationsResponse()
            residents: list[str] | None = [request.resident_id]
        else:
            residents = sorted(visible) if visible is not None else None
        scope = f"{request.resident_id}|{','.join(map(str, sorted(request.types)))}"
        after = None
        if request.page_token:
            pos = logic.decode_token(request.page_token, "conversations", scope)
            try:
                after = (
                    dt.datetime.fromisoformat(str(pos[0])),
                    logic.parse_id(str(pos[1]), "page_token"),
                )
            except (IndexError, ValueError):
                raise InvalidArgument("page_token is malformed") from None
        rows = await self.store.list_conversations(
            resident_ids=residents, types=list(request.types), after=after, limit=size + 1
        )
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            token = logic.encode_token(
                "conversations", scope, [last.last_active_at.isoformat(), str(last.conversation_id)]
            )
        return pb.ListConversationsResponse(
            conversations=[conversation_pb(r) for r in rows[:size]], next_page_token=token
        )

    async def AppendMessage(
        self, request: pb.AppendMessageRequest, context: Ctx
    ) -> pb.AppendMessageResponse:
        conv = await self.core.conversation(request.conversation_id)
        result = await self.core.append(
            conv,
            _caller(),
            sender_id=request.sender_id,
            sender_role=request.sender_role,
            content=request.content,
            client_message_id=request.client_message_id,
        )
        return pb.AppendMessageResponse(
            message=result.message, alert_id=result.alert_id, deduplicated=result.deduplicated
        )

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Ctx
    ) -> pb.ListMessagesResponse:
        size = logic.page_size(request.page_size)
        before = logic.messages_start(
            request.conversation_id, request.page_token, request.before_sequence
        )
        conv = await self.core.conversation(request.conversation_id)
        rows = await self.store.list_messages(conv.conversation_id, before, size + 1)
        token = ""
        if len(rows) > size:
            token = logic.encode_token(
                "messages", request.conversation_id, [rows[size - 1].sequence]
            )
        return pb.ListMessagesResponse(
            messages=[message_pb(r) for r in rows[:size]], next_page_token=token
        )

    async def GetDailyAnalytics(
        self, request: pb.GetDailyAnalyticsRequest, context: Ctx
    ) -> pb.GetDailyAnalyticsResponse:
        if not request.resident_id:
            raise InvalidArgument("resident_id is required")
        first, last = logic.analytics_range(request.start_date, request.end_date)
        if not logic.visible(request.resident_id, visible_residents()):
            raise NotFound(f"resident {request.resident_id} not found")
        counts = {c.day: c for c in await self.store.daily_counts(request.resident_id, first, last)}
        out = []
        for day in logic.days(first, last):
            c = counts.get(day)
            out.append(
                pb.DailyConversationAnalytics(
                    date=day.isoformat(),
                    conversation_count=c.conversation_count if c else 0,
                    total_messages=c.total_messages if c else 0,
                    crisis_incidents=c.crisis_incidents if c else 0,
                )
            )
        return pb.GetDailyAnalyticsResponse(days=out)

    async def WatchMessages(
        self, request: pb.WatchMessagesRequest, context: Ctx
    ) -> AsyncIterator[pb.WatchMessagesResponse]:
        resume = (
            request.resume_after_sequence if request.HasField("resume_after_sequence") else None
        )
        if resume is not None and resume < 0:
            raise InvalidArgument("resume_after_sequence must not be negative")
        conv = await self.core.conversation(request.conversation_id)
        cid = str(conv.conversation_id)
        # Subscribe first, then read storage: anything stored later is in the buffer.
        async with Subscription(self.core.redis, messages_channel(cid)) as sub:
            if resume is None:
                fresh = await self.store.get_conversation(conv.conversation_id)
                order = logic.LiveOrder(fresh.last_sequence if fresh else conv.last_sequence)
            else:
                order = logic.LiveOrder(resume)
                async for message in self.core.replay(conv.conversation_id, order):
                    yield pb.WatchMessagesResponse(message=message)
            async for _channel, payload in sub:
                live = pb.Message.FromString(payload)
                async for message in self.core.in_order(conv.conversation_id, order, live):
                    yield pb.WatchMessagesResponse(message=message)
