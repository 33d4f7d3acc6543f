"""Where failed sign-in attempts are kept, and the limiter the servicer asks.

Two stores with one contract (``FailureStore``; tests/auth/test_auth_attempts.py runs the
same suite against both):

* ``RedisFailureStore``: one sorted set per key, ``auth:failures:<key>``, scored by the
  failure time (epoch seconds from the injected clock, so a fake clock works; the Redis
  TTL only collects garbage). Shared by every auth instance.
* ``MemoryFailureStore``: a dict, for an auth service without Redis and for tests.

A store keeps at most ``keep`` failures per key (the newest): a limit never needs more.
Checking and recording are separate steps, so N concurrent attempts that all pass the
check can overshoot a limit by at most N - 1; the next check refuses.
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

import redis.asyncio as aioredis

from services.auth.ratelimit import (
    DEFAULT_LIMITS,
    Limit,
    LoginLimits,
    Verdict,
    account_key,
    address_key,
    mfa_key,
    most_restrictive,
    verdict,
)

__all__ = ["FailureStore", "LoginLimiter", "MemoryFailureStore", "RedisFailureStore"]

_PREFIX = "auth:failures:"
_GC_SLACK = 60


class FailureStore(Protocol):
    async def failures(self, key: str, now: float, window: float) -> list[float]:
        """Times of the key's failures within ``window`` seconds before ``now``."""
        ...

    async def record(self, key: str, now: float, window: float, keep: int) -> None:
        """Add a failure at ``now``; keep the newest ``keep``, forget any older than window."""
        ...

    async def clear(self, key: str) -> None: ...


class MemoryFailureStore:
    """Per-process store; atomic because it never awaits inside an operation."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}

    async def failures(self, key: str, now: float, window: float) -> list[float]:
        return [t for t in self._failures.get(key, ()) if t > now - window]

    async def record(self, key: str, now: float, window: float, keep: int) -> None:
        recent = [t for t in self._failures.get(key, ()) if t > now - window]
        recent.append(now)
        self._failures[key] = sorted(recent)[-keep:]

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class RedisFailureStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._r = redis

    async def failures(self, key: str, now: float, window: float) -> list[float]:
        rows: Any = await self._r.zrangebyscore(
            _PREFIX + key, f"({now - window!r}", "+inf", withscores=True
        )
        return [float(score) for _, score in rows]

    async def record(self, key: str, now: float, window: float, keep: int) -> None:
        name = _PREFIX + key
        pipe = self._r.pipeline(transaction=True)
        # A random member: two failures at the same instant are two failures.
        pipe.zadd(name, {f"{now!r}:{secrets.token_hex(4)}": now})
        pipe.zremrangebyscore(name, "-inf", repr(now - window))
        pipe.zremrangebyrank(name, 0, -keep - 1)
        pipe.expire(name, int(window) + _GC_SLACK)
        await pipe.execute()

    async def clear(self, key: str) -> None:
        await self._r.delete(_PREFIX + key)


class LoginLimiter:
    """The servicer's view: check before verifying a secret, then report the outcome."""

    def __init__(self, store: FailureStore, limits: LoginLimits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.limits = limits

    async def _check(self, key: str, limit: Limit, now: float, scope: str) -> Verdict:
        return verdict(await self.store.failures(key, now, limit.window), limit, now, scope)

    async def _fail(self, key: str, limit: Limit, now: float) -> None:
        await self.store.record(key, now, limit.window, limit.max_failures)

    async def check_login(
        self, user_id: str | None, login: str, address: str, now: float
    ) -> Verdict:
        return most_restrictive(
            await self._check(account_key(user_id, login), self.limits.account, now, "account"),
            await self._check(address_key(address), self.limits.address, now, "address"),
        )

    async def login_failed(self, user_id: str | None, login: str, address: str, now: float) -> None:
        await self._fail(account_key(user_id, login), self.limits.account, now)
        await self._fail(address_key(address), self.limits.address, now)

    async def login_succeeded(self, user_id: str) -> None:
        """The account's failures are forgiven; the address's are not (it may be
        trying many accounts and own one of them)."""
        await self.store.clear(account_key(user_id, ""))

    async def check_mfa(self, user_id: str, now: float) -> Verdict:
        return await self._check(mfa_key(user_id), self.limits.mfa, now, "mfa")

    async def mfa_failed(self, user_id: str, now: float) -> None:
        await self._fail(mfa_key(user_id), self.limits.mfa, now)

    async def mfa_succeeded(self, user_id: str) -> None:
        await self.store.clear(mfa_key(user_id))
