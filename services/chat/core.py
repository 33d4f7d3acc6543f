"""The append path shared by ChatService and ChatHubService: screen -> store -> publish.

Also the conversions between store rows and protos, and the by-id visibility check.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import grpc
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.chat.v1 import chat_service_pb2 as pb
from lilo.crisis.v1 import crisis_service_pb2 as crisis_pb
from lilo.crisis.v1 import crisis_service_pb2_grpc as crisis_grpc

from mesh import context
from mesh.clock import Clock
from mesh.errors import CircuitOpenError, NoEndpointsError
from mesh.status import NotFound, PermissionDenied, Unavailable
from services.chat import logic
from services.chat.live import messages_channel
from services.chat.store import ChatStore, ConversationRow, MessageRow, NewMessage, Safety

log = logging.getLogger(__name__)

CRISIS_SERVICE = "lilo.crisis.v1.CrisisService"
_REFUSED = frozenset(
    {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
)  # the caller may not submit content for this resident: resending will not help


@dataclass(frozen=True)
class Screening:
    safety: Safety
    alert_id: str


class Screener(Protocol):
    async def screen(self, resident_id: str, content: str) -> Screening:
        """The verdict; raises ``Unavailable`` when screening could not be done."""
        ...


class CrisisScreener:
    """Screens through ``CrisisService.ScreenContent`` (which may raise an alert)."""

    def __init__(self, channel: object, timeout: float = 5.0) -> None:
        self._stub = crisis_grpc.CrisisServiceStub(channel)  # type: ignore[no-untyped-call,unused-ignore]
        self._timeout = timeout

    async def screen(self, resident_id: str, content: str) -> Screening:
        request = crisis_pb.ScreenContentRequest(
            resident_id=resident_id, content=content, source="chat"
        )
        try:
            response = await self._stub.ScreenContent(request, timeout=self._timeout)
        except aio.AioRpcError as exc:
            if exc.code() in _REFUSED:
                raise PermissionDenied(f"content screening refused: {exc.details()}") from exc
            log.warning("content screening failed: %s %s", exc.code().name, exc.details())
            raise Unavailable(
                f"content screening unavailable ({exc.code().name}); message not stored"
            ) from exc
        except (NoEndpointsError, CircuitOpenError, OSError) as exc:
            raise Unavailable(f"content screening unavailable ({exc}); message not stored") from exc
        a = response.analysis
        return Screening(
            safety=Safety(
                crisis_detected=a.crisis_detected,
                crisis_level=a.crisis_level,
                crisis_categories=tuple(a.crisis_categories),
                phi_detected=a.phi_detected,
                recommended_action=a.recommended_action,
            ),
            alert_id=response.alert.alert_id if response.HasField("alert") else "",
        )


def timestamp(value: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(dt.UTC).replace(tzinfo=None))
    return ts


def conversation_pb(row: ConversationRow) -> pb.Conversation:
    return pb.Conversation(
        conversation_id=str(row.conversation_id),
        resident_id=row.resident_id,
        created_by=row.created_by,
        type=row.type,  # type: ignore[arg-type]
        title=row.title,
        started_at=timestamp(row.started_at),
        last_active_at=timestamp(row.last_active_at),
        last_sequence=row.last_sequence,
    )


def message_pb(row: MessageRow) -> pb.Message:
    s = row.safety
    return pb.Message(
        message_id=str(row.message_id),
        conversation_id=str(row.conversation_id),
        sequence=row.sequence,
        sender_id=row.sender_id,
        sender_role=row.sender_role,  # type: ignore[arg-type]
        content=row.content,
        sent_at=timestamp(row.created_at),
        client_message_id=row.client_message_id,
        safety=pb.SafetySummary(
            crisis_detected=s.crisis_detected,
            crisis_level=s.crisis_level,  # type: ignore[arg-type]
            crisis_categories=list(s.crisis_categories),  # type: ignore[arg-type]
            phi_detected=s.phi_detected,
            recommended_action=s.recommended_action,  # type: ignore[arg-type]
        ),
    )


def visible_residents() -> frozenset[str] | None:
    """The residents the current call may see; None = no per-resident restriction."""
    call = context.current()
    decision = getattr(getattr(call, "admission", None), "decision", None)
    return getattr(decision, "visible_residents", None)


@dataclass(frozen=True)
class Appended:
    message: pb.Message
    alert_id: str
    deduplicated: bool


class ChatCore:
    def __init__(
        self, store: ChatStore, screener: Screener, redis: aioredis.Redis, clock: Clock
    ) -> None:
        self.store = store
        self.screener = screener
        self.redis = redis
        self.clock = clock

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.wall(), dt.UTC)

    async def conversation(
        self, conversation_id: str, field: str = "conversation_id"
    ) -> ConversationRow:
        """The conversation if the caller may see it; NOT_FOUND otherwise (no existence leak)."""
        cid = logic.parse_id(conversation_id, field)
        row = await self.store.get_conversation(cid)
        if row is None or not logic.visible(row.resident_id, visible_residents()):
            raise NotFound(f"conversation {conversation_id} not found")
        return row

    async def append(
        self,
        conv: ConversationRow,
        caller: logic.Caller | None,
        *,
        sender_id: str,
        sender_role: int,
        content: str,
        client_message_id: str,
        content_field: str = "content",
    ) -> Appended:
        """Screen, store and publish one message; a known client id returns the first one.

        Nothing is stored unless screening succeeded: an unscreened message could hide a
        crisis nobody is told about.
        """
        logic.validate_content(content, content_field)
        logic.validate_client_message_id(client_message_id)
        sender, role = logic.resolve_sender(caller, sender_id, sender_role)
        first = await self.store.find_by_client_id(conv.conversation_id, sender, client_message_id)
        if first is not None:
            return Appended(message_pb(first), first.alert_id, True)
        screening = await self.screener.screen(conv.resident_id, content)
        row, dedup = await self.store.append(
            NewMessage(
                conversation_id=conv.conversation_id,
                resident_id=conv.resident_id,
                sender_id=sender,
                sender_role=role,
                content=content,
                client_message_id=client_message_id,
                safety=screening.safety,
                alert_id=screening.alert_id,
            ),
            self.now(),
        )
        message = message_pb(row)
        if not dedup:
            try:
                await self.redis.publish(
                    messages_channel(str(conv.conversation_id)), message.SerializeToString()
                )
            except Exception as exc:  # stored is what counts; watchers repair from storage
                log.warning("could not publish message %s: %s", row.message_id, exc)
        return Appended(message, row.alert_id, dedup)

    async def replay(
        self, conversation_id: uuid.UUID, order: logic.LiveOrder, before: int | None = None
    ) -> AsyncIterator[pb.Message]:
        """Stored messages after ``order.last`` (and below ``before``), oldest first."""
        while True:
            batch = await self.store.messages_between(conversation_id, order.last, before)
            for row in batch:
                order.delivered(row.sequence)
                yield message_pb(row)
            if len(batch) < 500:
                return

    async def in_order(
        self, conversation_id: uuid.UUID, order: logic.LiveOrder, live: pb.Message
    ) -> AsyncIterator[pb.Message]:
        """Deliver a live publication: skip it if already sent, fill any gap before it."""
        if not order.accept(live.sequence):
            return
        if order.gap(live.sequence) is not None:
            async for missed in self.replay(conversation_id, order, before=live.sequence):
                yield missed
        order.delivered(live.sequence)
        yield live
