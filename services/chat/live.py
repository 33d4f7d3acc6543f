"""The Redis side of chat: channel names, subscriptions that are live before replay starts,
and presence entries with expiry.

Pub/sub is fire-and-forget, so it only ever carries hints: a subscriber that misses or
reorders publications repairs the run from PostgreSQL (``LiveOrder.gap``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import redis.asyncio as aioredis


def messages_channel(conversation_id: str) -> str:
    return f"chat:{{{conversation_id}}}:messages"


def presence_channel(conversation_id: str) -> str:
    return f"chat:{{{conversation_id}}}:presence"


def presence_key(conversation_id: str) -> str:
    return f"chat:{{{conversation_id}}}:present"


def acks_key(conversation_id: str) -> str:
    return f"chat:{{{conversation_id}}}:acks"


class Subscription:
    """A pub/sub subscription that has been CONFIRMED by Redis when ``__aenter__`` returns.

    Confirmation matters: whatever is published after it is buffered on our connection, so
    reading storage afterwards and then the buffer leaves no window in which a message is
    neither in storage (as read) nor in the buffer.
    """

    def __init__(self, redis: aioredis.Redis, *channels: str, confirm_timeout: float = 5.0) -> None:
        self._redis = redis
        self._channels = channels
        self._timeout = confirm_timeout
        self._pubsub: Any = None
        self._early: list[tuple[str, bytes]] = []

    async def __aenter__(self) -> Subscription:
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(*self._channels)
        confirmed = 0
        async with asyncio.timeout(self._timeout):
            while confirmed < len(self._channels):
                msg = await self._pubsub.get_message(timeout=self._timeout)
                if msg is None:
                    continue
                if msg["type"] == "subscribe":
                    confirmed += 1
                elif msg["type"] == "message":
                    self._early.append((_text(msg["channel"]), msg["data"]))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pubsub is not None:
            # closing a broken connection must not mask the real error
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        """(channel, payload) pairs, forever."""
        while self._early:
            yield self._early.pop(0)
        while True:
            msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
            if msg is not None and msg["type"] == "message":
                yield _text(msg["channel"]), msg["data"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class PresenceEntry:
    user_id: str
    state: int
    expires_at: float
    """Epoch seconds; the entry counts as OFFLINE from then on."""


class PresenceStore:
    """Presence per conversation in one Redis hash: user -> {state, expires_at}.

    Expiry is judged against the caller's ``now`` (an injected clock), so a participant whose
    hub died simply lapses; the hash itself expires once every entry could have lapsed.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def set(self, conversation_id: str, entry: PresenceEntry, ttl: float, now: float) -> None:
        key = presence_key(conversation_id)
        value = json.dumps({"state": entry.state, "expires_at": entry.expires_at})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, entry.user_id, value)
            pipe.expire(key, max(1, int(ttl) + 1))
            await pipe.execute()

    async def remove(self, conversation_id: str, user_id: str) -> None:
        await self._redis.hdel(presence_key(conversation_id), user_id)

    async def present(self, conversation_id: str, now: float) -> list[PresenceEntry]:
        raw = await self._redis.hgetall(presence_key(conversation_id))
        out = []
        for user, value in raw.items():
            data = json.loads(value)
            if float(data["expires_at"]) > now:
                out.append(
                    PresenceEntry(_text(user), int(data["state"]), float(data["expires_at"]))
                )
        return sorted(out, key=lambda e: e.user_id)
