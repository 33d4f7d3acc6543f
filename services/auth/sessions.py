"""Redis state of the auth service: sessions, MFA challenges, pending TOTP enrolments.

Keys (all under ``auth:``)::

    auth:session:<sid>          hash user_id, created_at, last_seen, mfa, family_id
    auth:user_sessions:<uid>    set of the user's session ids (may hold ended ones)
    auth:challenge:<sha256>     hash user_id, expires_at, attempts   (token itself not stored)
    auth:pending_mfa:<uid>      hash secret (AES-GCM, base64), expires_at

Times in values are epoch seconds from the injected clock and are what decide expiry; the
Redis TTLs only collect garbage (set a little longer), so a fake clock in tests works.
Works with clients that decode responses and with those that do not.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from services.auth.logic import AuthConfig, session_alive

__all__ = ["Challenge", "SessionRecord", "SessionStore"]

_PREFIX = "auth:"
# Garbage-collection slack on top of the logical lifetime.
_GC_SLACK = 60


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _ttl(seconds: float) -> int:
    return max(1, math.ceil(seconds) + _GC_SLACK)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    session_id: str
    user_id: str
    created_at: float
    last_seen: float
    mfa: bool
    family_id: str = ""


@dataclass(frozen=True, slots=True)
class Challenge:
    user_id: str
    expires_at: float
    attempts: int


class SessionStore:
    def __init__(self, redis: aioredis.Redis, config: AuthConfig) -> None:
        self._r = redis
        self._config = config

    # --- sessions --------------------------------------------------------------------

    @staticmethod
    def _skey(sid: str) -> str:
        return f"{_PREFIX}session:{sid}"

    @staticmethod
    def _ukey(user_id: str) -> str:
        return f"{_PREFIX}user_sessions:{user_id}"

    async def create(self, user_id: str, *, mfa: bool, now: float) -> SessionRecord:
        sid = secrets.token_urlsafe(18)
        record = SessionRecord(sid, user_id, now, now, mfa)
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(
            self._skey(sid),
            mapping={
                "user_id": user_id,
                "created_at": repr(now),
                "last_seen": repr(now),
                "mfa": "1" if mfa else "0",
                "family_id": "",
            },
        )
        pipe.expire(self._skey(sid), _ttl(self._config.session_idle_ttl))
        pipe.sadd(self._ukey(user_id), sid)
        pipe.expire(self._ukey(user_id), _ttl(self._config.refresh_family_ttl))
        await pipe.execute()
        return record

    async def set_family(self, sid: str, family_id: str) -> None:
        await self._r.hset(self._skey(sid), "family_id", family_id)

    async def get(self, sid: str) -> SessionRecord | None:
        raw = await self._r.hgetall(self._skey(sid))
        if not raw:
            return None
        data = {_s(k): _s(v) for k, v in raw.items()}
        return SessionRecord(
            session_id=sid,
            user_id=data["user_id"],
            created_at=float(data["created_at"]),
            last_seen=float(data["last_seen"]),
            mfa=data.get("mfa") == "1",
            family_id=data.get("family_id", ""),
        )

    async def alive(self, sid: str, now: float, *, touch: bool = False) -> SessionRecord | None:
        """The session if it exists and is not idle/too old at ``now``; ends dead ones."""
        if not sid:
            return None
        record = await self.get(sid)
        if record is None:
            return None
        if not session_alive(
            created_at=record.created_at,
            last_seen=record.last_seen,
            now=now,
            idle_ttl=self._config.session_idle_ttl,
            max_age=self._config.refresh_family_ttl,
        ):
            await self.delete(sid, record.user_id)
            return None
        if touch:
            pipe = self._r.pipeline(transaction=True)
            pipe.hset(self._skey(sid), "last_seen", repr(now))
            pipe.expire(self._skey(sid), _ttl(self._config.session_idle_ttl))
            await pipe.execute()
        return record

    async def delete(self, sid: str, user_id: str) -> bool:
        """End a session; True if it existed."""
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._skey(sid))
        pipe.srem(self._ukey(user_id), sid)
        deleted, _ = await pipe.execute()
        return bool(deleted)

    async def user_session_ids(self, user_id: str) -> list[str]:
        return sorted(_s(m) for m in await self._r.smembers(self._ukey(user_id)))

    # --- MFA challenges --------------------------------------------------------------

    @staticmethod
    def _ckey(token: str) -> str:
        return f"{_PREFIX}challenge:{_hash(token)}"

    async def create_challenge(self, user_id: str, now: float) -> tuple[str, float]:
        token = secrets.token_urlsafe(32)
        expires_at = now + self._config.challenge_ttl
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(
            self._ckey(token),
            mapping={"user_id": user_id, "expires_at": repr(expires_at), "attempts": "0"},
        )
        pipe.expire(self._ckey(token), _ttl(self._config.challenge_ttl))
        await pipe.execute()
        return token, expires_at

    async def get_challenge(self, token: str) -> Challenge | None:
        raw = await self._r.hgetall(self._ckey(token))
        if not raw:
            return None
        data = {_s(k): _s(v) for k, v in raw.items()}
        return Challenge(data["user_id"], float(data["expires_at"]), int(data["attempts"]))

    async def fail_challenge(self, token: str) -> int:
        """Count a wrong code; return the attempts so far."""
        return int(await self._r.hincrby(self._ckey(token), "attempts", 1))

    async def consume_challenge(self, token: str) -> bool:
        """Delete the challenge; True only for the one caller that deleted it (single use)."""
        return bool(await self._r.delete(self._ckey(token)))

    # --- pending enrolment -----------------------------------------------------------

    @staticmethod
    def _pkey(user_id: str) -> str:
        return f"{_PREFIX}pending_mfa:{user_id}"

    async def put_pending(self, user_id: str, sealed_secret: bytes, now: float) -> float:
        expires_at = now + self._config.enrollment_ttl
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._pkey(user_id))
        pipe.hset(
            self._pkey(user_id),
            mapping={
                "secret": base64.b64encode(sealed_secret).decode(),
                "expires_at": repr(expires_at),
            },
        )
        pipe.expire(self._pkey(user_id), _ttl(self._config.enrollment_ttl))
        await pipe.execute()
        return expires_at

    async def get_pending(self, user_id: str, now: float) -> bytes | None:
        raw = await self._r.hgetall(self._pkey(user_id))
        if not raw:
            return None
        data = {_s(k): _s(v) for k, v in raw.items()}
        if now >= float(data["expires_at"]):
            await self._r.delete(self._pkey(user_id))
            return None
        return base64.b64decode(data["secret"])

    async def delete_pending(self, user_id: str) -> bool:
        return bool(await self._r.delete(self._pkey(user_id)))
