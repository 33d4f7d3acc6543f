"""Failed-attempt limits: the pure rules, and one contract suite for both stores
(in memory, and real Redis from the ``redis_db_url`` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.auth.attempts import (
    FailureStore,
    LoginLimiter,
    MemoryFailureStore,
    RedisFailureStore,
)
from services.auth.ratelimit import (
    Limit,
    LoginLimits,
    Verdict,
    client_address,
    most_restrictive,
    retry_message,
    verdict,
)

T0 = 1_800_000_000.0
LIMIT = Limit(3, 60.0)

# --- pure rules ----------------------------------------------------------------------


def test_under_the_limit_is_allowed() -> None:
    assert verdict([T0, T0 + 1], LIMIT, T0 + 2).allowed


def test_at_the_limit_refuses_until_the_oldest_failure_leaves_the_window() -> None:
    v = verdict([T0, T0 + 10, T0 + 20], LIMIT, T0 + 30, "account")
    assert not v.allowed and v.scope == "account"
    assert v.retry_after == pytest.approx(30.0)  # T0 + 60 - (T0 + 30)
    assert verdict([T0, T0 + 10, T0 + 20], LIMIT, T0 + 60).allowed


def test_failures_outside_the_window_do_not_count() -> None:
    assert verdict([T0 - 100, T0 - 61, T0 - 1], LIMIT, T0).allowed


def test_overshoot_from_concurrent_attempts_waits_for_enough_to_age_out() -> None:
    v = verdict([T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4], LIMIT, T0 + 5)
    # Two may remain: allowed once T0 + 2 leaves, at T0 + 62.
    assert v.retry_after == pytest.approx(57.0)


def test_most_restrictive_picks_the_longest_refusal() -> None:
    short, long = Verdict(False, 5, "account"), Verdict(False, 50, "address")
    assert most_restrictive(Verdict(True), short, long) == long
    assert most_restrictive(Verdict(True), Verdict(True)).allowed


def test_retry_message_rounds_up_to_whole_seconds() -> None:
    msg = retry_message("sign-in", Verdict(False, 0.2))
    assert msg == "too many failed sign-in attempts; retry in 1 s"
    assert "retry in 42 s" in retry_message("MFA", Verdict(False, 41.01))


@pytest.mark.parametrize(
    ("forwarded", "peer", "expected"),
    [
        ("", "ipv4:198.51.100.7:51234", "198.51.100.7"),
        ("", "ipv6:[::1]:51234", "::1"),
        ("", "ipv6:[2001:DB8::1]:443", "2001:db8::1"),
        # Only the hop the gateway saw counts; what the client claimed is ignored.
        ("6.6.6.6, 203.0.113.9", "ipv4:127.0.0.1:1", "203.0.113.9"),
        ("203.0.113.9", "ipv4:127.0.0.1:1", "203.0.113.9"),
        ("", "unix:/tmp/s", "unix:/tmp/s"),
        ("", "", "unknown"),
    ],
)
def test_client_address(forwarded: str, peer: str, expected: str) -> None:
    assert client_address(forwarded, peer) == expected


def test_limits_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        Limit(0, 10)
    with pytest.raises(ValueError, match="window"):
        Limit(3, 0)


# --- one contract, two stores --------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[FailureStore]:
    if request.param == "memory":
        yield MemoryFailureStore()
        return
    client = aioredis.Redis.from_url(request.getfixturevalue("redis_db_url"))
    try:
        yield RedisFailureStore(client)
    finally:
        await client.aclose()


async def claim_n(store: FailureStore, key: str, n: int, t: float, limit: Limit) -> list[str]:
    tokens = []
    for _ in range(n):
        claim = await store.claim(key, t, limit)
        assert claim.token, "a claim under the limit is counted"
        tokens.append(claim.token)
    return tokens


async def test_store_claims_until_the_limit_then_refuses_with_the_failures(
    store: FailureStore,
) -> None:
    await claim_n(store, "k", 2, T0, LIMIT)
    await claim_n(store, "k", 1, T0 + 30, LIMIT)
    refused = await store.claim("k", T0 + 31, LIMIT)
    assert refused.token == "" and refused.failures == (T0, T0, T0 + 30)
    # Refused claims are not counted, and failures leave the window by themselves.
    assert sorted(await store.failures("k", T0 + 31, 60)) == [T0, T0, T0 + 30]
    assert await store.failures("k", T0 + 60, 60) == [T0 + 30]
    assert (await store.claim("k", T0 + 60, LIMIT)).token
    assert await store.failures("other", T0, 60) == []


async def test_store_release_takes_back_one_claim(store: FailureStore) -> None:
    first, second = await claim_n(store, "k", 2, T0, LIMIT)
    await store.release("k", first)
    assert await store.failures("k", T0, 60) == [T0]
    await store.release("k", first)  # twice is harmless
    await store.release("k", second)
    assert await store.failures("k", T0, 60) == []


async def test_concurrent_claims_never_pass_the_limit(store: FailureStore) -> None:
    """The property the limiter exists for: 50 simultaneous guesses get exactly 3 tries."""
    claims = await asyncio.gather(*(store.claim("k", T0, LIMIT) for _ in range(50)))
    assert sum(1 for c in claims if c.token) == 3
    assert len(await store.failures("k", T0, 60)) == 3


async def test_store_clear_forgets_one_key(store: FailureStore) -> None:
    await claim_n(store, "a", 1, T0, LIMIT)
    await claim_n(store, "b", 1, T0, LIMIT)
    await store.clear("a")
    assert await store.failures("a", T0, 60) == []
    assert await store.failures("b", T0, 60) == [T0]


# --- the limiter over each store ------------------------------------------------------

LIMITS = LoginLimits(account=Limit(3, 60), address=Limit(5, 120), mfa=Limit(2, 30))


async def fail_logins(limiter: LoginLimiter, n: int, user: str | None, addr: str, t: float) -> None:
    """``n`` wrong passwords: each attempt starts (counting its failure) and never succeeds."""
    for _ in range(n):
        assert (await limiter.start_login(user, "name", addr, t)).verdict.allowed


async def test_account_lockout_is_bounded_by_the_window(store: FailureStore) -> None:
    limiter = LoginLimiter(store, LIMITS)
    await fail_logins(limiter, 3, "u1", "10.0.0.1", T0)
    refused = (await limiter.start_login("u1", "name", "10.0.0.2", T0 + 59)).verdict
    assert not refused.allowed and refused.scope == "account"
    assert refused.retry_after == pytest.approx(1.0)
    # Refused attempts are not counted, so hammering does not extend the lockout...
    for t in range(10):
        attempt = await limiter.start_login("u1", "name", "10.0.0.2", T0 + 50 + t)
        assert not attempt.verdict.allowed and attempt.claims == ()
    # ...and do not count against the address either.
    assert await store.failures("address:10.0.0.2", T0 + 59, 120) == []
    assert (await limiter.start_login("u1", "name", "10.0.0.2", T0 + 60)).verdict.allowed


async def test_success_resets_the_account_but_not_the_address(store: FailureStore) -> None:
    limiter = LoginLimiter(store, LIMITS)
    await fail_logins(limiter, 2, "u1", "10.0.0.1", T0)
    success = await limiter.start_login("u1", "name", "10.0.0.1", T0 + 1)
    await limiter.login_succeeded(success, "u1")
    assert await store.failures("account:u1", T0 + 1, 60) == []
    # The successful attempt itself is not a failure from the address.
    assert await store.failures("address:10.0.0.1", T0 + 1, 120) == [T0, T0]
    await fail_logins(limiter, 3, "u1", "10.0.0.1", T0 + 1)  # would be refused without reset
    by_address = (await limiter.start_login("u2", "other", "10.0.0.1", T0 + 3)).verdict
    assert not by_address.allowed and by_address.scope == "address"


async def test_an_address_refusal_gives_back_the_account_claim(store: FailureStore) -> None:
    limiter = LoginLimiter(store, LIMITS)
    for i in range(5):
        await fail_logins(limiter, 1, f"other-{i}", "10.0.0.1", T0)
    refused = (await limiter.start_login("u1", "name", "10.0.0.1", T0 + 1)).verdict
    assert not refused.allowed and refused.scope == "address"
    assert await store.failures("account:u1", T0 + 1, 60) == []


async def test_unknown_login_names_are_limited_by_name(store: FailureStore) -> None:
    limiter = LoginLimiter(store, LIMITS)
    await fail_logins(limiter, 3, None, "10.0.0.1", T0)
    assert not (await limiter.start_login(None, "name", "10.0.0.9", T0)).verdict.allowed
    assert (await limiter.start_login(None, "someone-else", "10.0.0.9", T0)).verdict.allowed


async def test_mfa_limit_and_reset(store: FailureStore) -> None:
    limiter = LoginLimiter(store, LIMITS)
    assert (await limiter.start_mfa("u1", T0)).verdict.allowed
    assert (await limiter.start_mfa("u1", T0 + 1)).verdict.allowed
    refused = (await limiter.start_mfa("u1", T0 + 2)).verdict
    assert not refused.allowed and refused.scope == "mfa"
    assert refused.retry_after == pytest.approx(28.0)
    assert (await limiter.start_mfa("u1", T0 + 31)).verdict.allowed
    await limiter.mfa_succeeded("u1")
    assert await store.failures("mfa:u1", T0 + 31, 30) == []


async def test_concurrent_mfa_guesses_get_only_the_limit(store: FailureStore) -> None:
    limiter = LoginLimiter(store, LIMITS)
    attempts = await asyncio.gather(*(limiter.start_mfa("u1", T0) for _ in range(40)))
    assert sum(a.verdict.allowed for a in attempts) == LIMITS.mfa.max_failures
