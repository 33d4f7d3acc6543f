"""Auth service fixtures: migrated fresh database, flushed Redis db, fake clock, served stack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from grpc import aio
from lilo.auth.v1 import auth_service_pb2 as pb
from lilo.auth.v1 import auth_service_pb2_grpc as pb_grpc

from mesh.access import TokenAccessController
from mesh.clock import FakeClock
from mesh.db import create_pool, migrate
from mesh.identity import totp
from mesh.identity.passwords import PasswordPolicy, Passwords
from mesh.identity.principal import PatientRelation, Role
from mesh.server import MeshServer
from mesh.testing import serve
from services.auth.logic import AuthConfig
from services.auth.secretbox import SecretBox
from services.auth.servicer import AuthServicer
from services.auth.store import AuthStore, UserRow

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "auth" / "migrations"
ORG = "org-test"
PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters: the tests are about flows, not about hashing cost.
CHEAP = Passwords(PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1))
BOX = SecretBox(b"k" * 32)


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(fresh_database, max_size=5)
    await migrate(p, "auth", MIGRATIONS)
    await AuthStore(p).ensure_organization(ORG, "Test Org")
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def redis(redis_db_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_db_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class AuthStack:
    servicer: AuthServicer
    server: MeshServer
    stub: pb_grpc.AuthServiceStub
    clock: FakeClock
    pool: asyncpg.Pool
    jwks_path: Path
    totp_secrets: dict[str, str] = field(default_factory=dict)

    @property
    def access(self) -> TokenAccessController:
        return TokenAccessController(verifier=self.servicer.keys.verifier(), clock=self.clock)

    async def add_user(
        self,
        username: str,
        role: Role,
        *,
        mfa: bool = False,
        relations: tuple[PatientRelation, ...] = (),
        org: str = ORG,
    ) -> UserRow:
        """A user straight in the store; ``mfa`` enrols a TOTP secret (kept in totp_secrets)."""
        user_id = f"u-{username.split('@')[0]}"
        sealed = None
        if mfa:
            secret = totp.new_secret()
            self.totp_secrets[username] = secret
            sealed = BOX.seal(secret.encode(), f"mfa:{user_id}")
        return await AuthStore(self.pool).create_user(
            user_id=user_id,
            organization_id=org,
            username=username,
            email=f"{username.split('@')[0]}@example.org",
            display_name=username,
            role=role,
            password_hash=CHEAP.hash(PASSWORD),
            relations=relations,
            created_at=self.clock.wall(),
            mfa_secret=sealed,
        )

    def code(self, username: str, offset_steps: int = 0) -> str:
        secret = self.totp_secrets[username]
        return totp.code_at(secret, totp.step_at(self.clock.wall()) + offset_steps)

    async def login_full(self, username: str) -> pb.AuthTokens:
        """Password, then (for enrolled users) the TOTP challenge."""
        resp = await self.stub.Login(pb.LoginRequest(username=username, password=PASSWORD))
        if resp.WhichOneof("result") == "tokens":
            return resp.tokens
        done = await self.stub.VerifyMfa(
            pb.VerifyMfaRequest(
                challenge_token=resp.mfa_challenge.challenge_token, code=self.code(username)
            )
        )
        # A code is good once: move to the next TOTP step for the next sign-in.
        self.clock.advance(totp.STEP_SECONDS)
        return done.tokens


def bearer(tokens: pb.AuthTokens | str) -> list[tuple[str, str]]:
    token = tokens if isinstance(tokens, str) else tokens.access_token
    return [("authorization", f"Bearer {token}")]


async def make_servicer(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    clock: FakeClock,
    jwks_path: Path,
    config: AuthConfig | None = None,
) -> AuthServicer:
    return await AuthServicer.create(
        pool, redis, clock=clock, config=config, jwks_path=jwks_path, box=BOX, passwords=CHEAP
    )


@pytest.fixture
def auth_config() -> AuthConfig:
    return AuthConfig(key_rotation_interval=24 * 3600.0)


@pytest.fixture
async def stack(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    clock: FakeClock,
    tmp_path: Path,
    auth_config: AuthConfig,
) -> AsyncIterator[AuthStack]:
    jwks_path = tmp_path / "jwks" / "jwks.json"
    servicer = await make_servicer(pool, redis, clock, jwks_path, auth_config)
    access = TokenAccessController(verifier=servicer.keys.verifier(), clock=clock)
    async with (
        serve([servicer], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield AuthStack(
            servicer=servicer,
            server=server,
            stub=pb_grpc.AuthServiceStub(channel),
            clock=clock,
            pool=pool,
            jwks_path=jwks_path,
        )


async def rpc_error(call: Any) -> aio.AioRpcError:
    """Await ``call`` and return the error it must fail with."""
    with pytest.raises(aio.AioRpcError) as info:
        await call
    return info.value
