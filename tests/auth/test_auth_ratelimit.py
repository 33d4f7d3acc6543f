"""Sign-in rate limits end to end: real gRPC, PostgreSQL (users, audit log), Redis
(failure counts), and the REST gateway turning the refusal into HTTP 429."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from lilo.auth.v1 import auth_service_pb2 as pb
from lilo.auth.v1 import auth_service_pb2_grpc as pb_grpc

from mesh.access import TokenAccessController
from mesh.audit_sink import AUDIT_MIGRATIONS
from mesh.clock import FakeClock
from mesh.db import migrate
from mesh.identity import totp
from mesh.identity.principal import Role
from mesh.testing import serve
from services.audit.logic import keyring_from_env
from services.audit.writer import AuditWriter
from services.auth.attempts import LoginLimiter, RedisFailureStore
from services.auth.ratelimit import Limit, LoginLimits
from services.auth.servicer import AuthServicer
from tests.gateway.gwkit import echo_env

from .conftest import BOX, CHEAP, PASSWORD, AuthStack, rpc_error

LIMITS = LoginLimits(account=Limit(3, 300.0), address=Limit(6, 600.0), mfa=Limit(3, 300.0))
AUDIT_KEY = {"LILO_AUDIT_HMAC_KEY": "test-audit-key-that-is-32-bytes-long!"}


@dataclass
class Limited:
    stack: AuthStack
    writer: AuditWriter


@pytest.fixture
async def limited(
    pool: asyncpg.Pool, redis: aioredis.Redis, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Limited]:
    await migrate(pool, "audit", AUDIT_MIGRATIONS)
    writer = AuditWriter(pool, keyring_from_env(AUDIT_KEY), clock=clock, linger=0.0)
    servicer = await AuthServicer.create(
        pool,
        redis,
        clock=clock,
        jwks_path=tmp_path / "jwks.json",
        box=BOX,
        passwords=CHEAP,
        limiter=LoginLimiter(RedisFailureStore(redis), LIMITS),
        audit=writer,
    )
    access = TokenAccessController(verifier=servicer.keys.verifier(), clock=clock)
    async with (
        serve([servicer], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        stack = AuthStack(servicer, server, pb_grpc.AuthServiceStub(channel), clock, pool, tmp_path)
        yield Limited(stack, writer)
    await writer.close()


def login(
    stack: AuthStack, username: str, password: str = PASSWORD, forwarded_for: str = ""
) -> aio.UnaryUnaryCall:
    md = (("x-forwarded-for", forwarded_for),) if forwarded_for else None
    return stack.stub.Login(pb.LoginRequest(username=username, password=password), metadata=md)


async def fail(stack: AuthStack, username: str, n: int, forwarded_for: str = "") -> None:
    for _ in range(n):
        err = await rpc_error(login(stack, username, "wrong password", forwarded_for))
        assert err.code() is grpc.StatusCode.UNAUTHENTICATED


def retry_delay_seconds(err: aio.AioRpcError) -> float:
    raw = dict(err.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    seconds: float = info.retry_delay.ToTimedelta().total_seconds()
    return seconds


async def audit_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT actor_user_id, action, outcome, additional_context FROM audit.events "
        "WHERE event_type = 'auth_rate_limited' ORDER BY sequence"
    )
    return rows


async def test_account_locks_after_failures_even_with_the_right_password(
    limited: Limited,
) -> None:
    stack = limited.stack
    user = await stack.add_user("res@t", Role.RESIDENT)
    await fail(stack, "res@t", 3)
    stack.clock.advance(100)
    err = await rpc_error(login(stack, "res@t"))  # correct password, still refused
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == "too many failed sign-in attempts; retry in 200 s"
    assert retry_delay_seconds(err) == pytest.approx(200.0)
    rows = await audit_rows(stack.pool)
    assert [(r["actor_user_id"], r["action"], r["outcome"]) for r in rows] == [
        (user.id, "login", "DENIED")
    ]
    assert '"limit": "account"' in rows[0]["additional_context"].replace("'", '"')
    # Bounded: once the window has passed the owner signs in again.
    stack.clock.advance(200)
    ok = await login(stack, "res@t")
    assert ok.WhichOneof("result") == "tokens"


async def test_success_after_a_few_failures_resets_the_account(limited: Limited) -> None:
    stack = limited.stack
    await stack.add_user("res@t", Role.RESIDENT)
    await fail(stack, "res@t", 2)
    assert (await login(stack, "res@t")).WhichOneof("result") == "tokens"
    await fail(stack, "res@t", 2)  # without the reset the second of these would lock
    assert (await login(stack, "res@t")).WhichOneof("result") == "tokens"


async def test_the_other_name_of_an_account_shares_its_limit(limited: Limited) -> None:
    stack = limited.stack
    await stack.add_user("res@t", Role.RESIDENT)
    await fail(stack, "res@t", 2)
    await fail(stack, "res@example.org", 1)
    err = await rpc_error(login(stack, "res@example.org"))
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_one_address_trying_many_accounts_is_limited(limited: Limited) -> None:
    stack = limited.stack
    for name in ("a@t", "b@t", "c@t"):
        await stack.add_user(name, Role.RESIDENT)
        await fail(stack, name, 2, forwarded_for="203.0.113.9")
    err = await rpc_error(login(stack, "a@t", forwarded_for="203.0.113.9"))
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (await audit_rows(stack.pool))[0]["actor_user_id"] == "u-a"
    # Another address (the gateway's last hop differs) is not affected.
    ok = await login(stack, "a@t", forwarded_for="203.0.113.9, 198.51.100.4")
    assert ok.WhichOneof("result") == "tokens"


async def test_totp_guessing_is_limited_across_challenges(limited: Limited) -> None:
    stack = limited.stack
    await stack.add_user("prov@t", Role.HEALTH_PROVIDER, mfa=True)
    wrong = f"{(int(stack.code('prov@t')) + 1) % 1_000_000:06d}"
    for _ in range(3):
        # A fresh challenge each time: the per-challenge attempt cap does not help here.
        challenge = (await login(stack, "prov@t")).mfa_challenge.challenge_token
        err = await rpc_error(
            stack.stub.VerifyMfa(pb.VerifyMfaRequest(challenge_token=challenge, code=wrong))
        )
        assert err.code() is grpc.StatusCode.UNAUTHENTICATED
    challenge = (await login(stack, "prov@t")).mfa_challenge.challenge_token
    right = stack.code("prov@t")
    err = await rpc_error(
        stack.stub.VerifyMfa(pb.VerifyMfaRequest(challenge_token=challenge, code=right))
    )
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "too many failed MFA attempts" in (err.details() or "")
    assert [r["action"] for r in await audit_rows(stack.pool)] == ["verify_mfa"]
    stack.clock.advance(300)
    challenge = (await login(stack, "prov@t")).mfa_challenge.challenge_token
    done = await stack.stub.VerifyMfa(
        pb.VerifyMfaRequest(challenge_token=challenge, code=stack.code("prov@t"))
    )
    assert done.tokens.access_token
    assert totp.STEP_SECONDS <= 300  # the advance moved past the used step


async def test_concurrent_totp_guesses_get_only_the_limit(limited: Limited) -> None:
    """Guesses fired at once (one per challenge) are limited too: exactly ``mfa`` of them
    reach the code check, because each claims its failure before the check."""
    stack = limited.stack
    await stack.add_user("prov@t", Role.HEALTH_PROVIDER, mfa=True)
    wrong = f"{(int(stack.code('prov@t')) + 1) % 1_000_000:06d}"
    challenges = [(await login(stack, "prov@t")).mfa_challenge.challenge_token for _ in range(12)]
    errors = await asyncio.gather(
        *(
            rpc_error(stack.stub.VerifyMfa(pb.VerifyMfaRequest(challenge_token=c, code=wrong)))
            for c in challenges
        )
    )
    codes = sorted(e.code().name for e in errors)
    assert codes == ["RESOURCE_EXHAUSTED"] * 9 + ["UNAUTHENTICATED"] * 3


async def test_gateway_answers_429_with_retry_info(limited: Limited) -> None:
    stack = limited.stack
    await stack.add_user("res@t", Role.RESIDENT)
    async with echo_env(servicers=(stack.servicer,)) as env:
        for _ in range(3):
            r = await env.http.post(
                "/v1/auth:login", json={"username": "res@t", "password": "wrong password"}
            )
            assert r.status_code == 401
        r = await env.http.post("/v1/auth:login", json={"username": "res@t", "password": PASSWORD})
    assert r.status_code == 429
    body = r.json()
    assert body["code"] == 8
    assert body["message"] == "too many failed sign-in attempts; retry in 300 s"
    assert body["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "300s"}
    ]
    row = (await audit_rows(stack.pool))[0]
    # The gateway's peer (the test client, 127.0.0.1) is the address that was limited.
    assert "127.0.0.1" in row["additional_context"]
