"""Where failed sign-in attempts are kept, and the limiter the servicer asks.

An attempt *claims* a failure before the secret is checked, and gives it back if the
secret was right. The claim is atomic with the check: of N concurrent attempts against a
limit of L failures with C already counted, exactly L - C go ahead and the rest are
refused. (Checking first and recording after the secret was wrong would let N concurrent
guesses all pass the check, which is how a TOTP code is brute-forced.)

Two stores with one contract (``FailureStore``; tests/auth/test_auth_attempts.py runs the
same suite against both):

* ``RedisFailureStore``: one sorted set per key, ``auth:failures:<key>``, scored by the
  failure time (epoch seconds from the injected clock, so a fake clock works; the Redis
  TTL only collects garbage); a claim is one Lua script. Shared by every auth instance.
* ``MemoryFailureStore``: a dict, for an auth service without Redis and for tests.

A store never holds more than the limit's failures per key: a refused attempt is not
counted (``services.auth.ratelimit`` says why).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from services.auth.ratelimit import (
    ALLOWED,
    DEFAULT_LIMITS,
    Limit,
    LoginLimits,
    Verdict,
    account_key,
    address_key,
    mfa_key,
    verdict,
)

__all__ = [
    "Attempt",
    "Claim",
    "FailureStore",
    "LoginLimiter",
    "MemoryFailureStore",
    "RedisFailureStore",
]

_PREFIX = "auth:failures:"
_GC_SLACK = 60


@dataclass(frozen=True, slots=True)
class Claim:
    """A store's answer: ``token`` names the failure counted in advance, or is empty when
    the key was already at its limit and ``failures`` holds the window's failure times."""

    token: str = ""
    failures: tuple[float, ...] = ()


class FailureStore(Protocol):
    async def claim(self, key: str, now: float, limit: Limit) -> Claim:
        """Count a failure at ``now`` unless ``limit.max_failures`` failures already lie
        within ``limit.window`` seconds before ``now``; atomic against concurrent claims."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Take back one claimed failure (the attempt succeeded)."""
        ...

    async def failures(self, key: str, now: float, window: float) -> list[float]:
        """Times of the key's failures within ``window`` seconds before ``now``."""
        ...

    async def clear(self, key: str) -> None: ...


def _token(now: float) -> str:
    # A random part: two failures at the same instant are two failures.
    return f"{now!r}:{secrets.token_hex(6)}"


class MemoryFailureStore:
    """Per-process store; atomic because it never awaits inside an operation."""

    def __init__(self) -> None:
        self._failures: dict[str, dict[str, float]] = {}

    async def claim(self, key: str, now: float, limit: Limit) -> Claim:
        recent = {
            token: t for token, t in self._failures.get(key, {}).items() if t > now - limit.window
        }
        self._failures[key] = recent
        if len(recent) >= limit.max_failures:
            return Claim(failures=tuple(sorted(recent.values())))
        token = _token(now)
        recent[token] = now
        return Claim(token=token)

    async def release(self, key: str, token: str) -> None:
        self._failures.get(key, {}).pop(token, None)

    async def failures(self, key: str, now: float, window: float) -> list[float]:
        return sorted(t for t in self._failures.get(key, {}).values() if t > now - window)

    async def clear(self, key: str) -> None:
        self._failures.pop(key, None)


# KEYS[1] the key; ARGV: now, oldest time that no longer counts, max failures, token, ttl.
# Answers {1} when the failure was counted, else {0, score, score, ...}.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return {1}
end
local out = {0}
for _, score in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')) do
  table.insert(out, score)
end
return out
"""


class RedisFailureStore:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._r = redis
        self._claim = redis.register_script(_CLAIM)

    async def claim(self, key: str, now: float, limit: Limit) -> Claim:
        token = _token(now)
        ttl = int(limit.window) + _GC_SLACK
        answer: Any = await self._claim(
            keys=[_PREFIX + key],
            args=[repr(now), repr(now - limit.window), limit.max_failures, token, ttl],
        )
        if int(answer[0]) == 1:
            return Claim(token=token)
        # ZRANGE WITHSCORES alternates member, score.
        return Claim(failures=tuple(sorted(float(s) for s in answer[2::2])))

    async def release(self, key: str, token: str) -> None:
        await self._r.zrem(_PREFIX + key, token)

    async def failures(self, key: str, now: float, window: float) -> list[float]:
        rows: Any = await self._r.zrangebyscore(
            _PREFIX + key, f"({now - window!r}", "+inf", withscores=True
        )
        return [float(score) for _, score in rows]

    async def clear(self, key: str) -> None:
        await self._r.delete(_PREFIX + key)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in step in progress: refused (``verdict``), or going ahead with its
    failures already counted under ``claims`` ((key, token) pairs)."""

    verdict: Verdict
    claims: tuple[tuple[str, str], ...] = ()


class LoginLimiter:
    """The servicer's view: start an attempt before checking a secret; a wrong secret
    needs nothing more (its failure is already counted), a right one is reported."""

    def __init__(self, store: FailureStore, limits: LoginLimits = DEFAULT_LIMITS) -> None:
        self.store = store
        self.limits = limits

    async def _start(self, now: float, *scoped: tuple[str, str, Limit]) -> Attempt:
        claims: list[tuple[str, str]] = []
        for scope, key, limit in scoped:
            claim = await self.store.claim(key, now, limit)
            if not claim.token:
                for held_key, token in claims:  # the attempt is not made after all
                    await self.store.release(held_key, token)
                refused = verdict(claim.failures, limit, now, scope)
                # The store and ``verdict`` share the window rule; never let a refusal
                # turn into an allowance on a rounding edge.
                return Attempt(refused if not refused.allowed else Verdict(False, 0.001, scope))
            claims.append((key, claim.token))
        return Attempt(ALLOWED, tuple(claims))

    async def start_login(
        self, user_id: str | None, login: str, address: str, now: float
    ) -> Attempt:
        return await self._start(
            now,
            ("account", account_key(user_id, login), self.limits.account),
            ("address", address_key(address), self.limits.address),
        )

    async def login_succeeded(self, attempt: Attempt, user_id: str) -> None:
        """The account's failures are forgiven; of the address's, only this attempt's
        claim (it may be trying many accounts and own one of them)."""
        await self.store.clear(account_key(user_id, ""))
        for key, token in attempt.claims:
            await self.store.release(key, token)

    async def start_mfa(self, user_id: str, now: float) -> Attempt:
        return await self._start(now, ("mfa", mfa_key(user_id), self.limits.mfa))

    async def mfa_succeeded(self, user_id: str) -> None:
        await self.store.clear(mfa_key(user_id))
