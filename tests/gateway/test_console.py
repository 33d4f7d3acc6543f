"""The operator console in a real headless Chromium, through a real uvicorn socket, in front of
the REAL crisis service (PostgreSQL + Redis from tests/conftest.py, its feed bus running) and
the REAL auth service (argon2 passwords, TOTP MFA, signed tokens that crisis verifies).

Two care-staff operators, each enrolled in MFA and caring for one resident, sign in on two
pages; an alert created over gRPC appears on both without a refresh; Acknowledge on one page
changes the row on both; the token the browser holds is what crisis saw (the alert names the
operator who acknowledged); the health list shows both services serving.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from grpc import aio
from lilo.auth.v1 import auth_service_pb2 as auth_pb
from lilo.auth.v1 import auth_service_pb2_grpc as auth_grpc
from lilo.crisis.v1 import crisis_service_pb2 as pb
from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc
from lilo.safety.v1 import safety_service_pb2 as safety_pb

from gateway_rest.app import create_app
from mesh.access import NoFacts, TokenAccessController
from mesh.clock import FakeClock
from mesh.db import create_pool, migrate
from mesh.identity import totp
from mesh.identity.passwords import PasswordPolicy, Passwords
from mesh.identity.principal import ConsentLevel, PatientRelation, Relationship, Role
from mesh.registry import InMemoryRegistry
from mesh.testing import serve
from services.auth.secretbox import SecretBox
from services.auth.servicer import AuthServicer
from services.auth.store import AuthStore
from services.crisis.app import assemble
from services.crisis.config import CrisisConfig
from tests.gateway.gwkit import live_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)
SERVICES = Path(__file__).resolve().parents[2] / "services"
ORG = "org-console"
PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters: the test is about the console, not about hashing cost.
CHEAP = Passwords(PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1))
BOX = SecretBox(b"c" * 32)
RESIDENT = "r-7"
CRISIS = "lilo.crisis.v1.CrisisService"
AUTH = "lilo.auth.v1.AuthService"


@dataclass
class Mesh:
    """Auth and crisis served over gRPC on one registry, the gateway app in front."""

    app: Any
    clock: FakeClock
    crisis_address: str
    auth_address: str
    secrets: dict[str, str]
    user_ids: dict[str, str]

    def code(self, username: str) -> str:
        return totp.code_at(self.secrets[username], totp.step_at(self.clock.wall()))

    def next_code_window(self) -> None:
        """A TOTP code is good once: move on a step before the same user signs in again."""
        self.clock.advance(totp.STEP_SECONDS)


@contextlib.asynccontextmanager
async def real_mesh(database_url: str, redis_url: str, tmp: Path) -> AsyncIterator[Mesh]:
    clock = FakeClock()
    registry = InMemoryRegistry()
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(database_url, max_size=10)
        stack.push_async_callback(pool.close)
        await migrate(pool, "auth", SERVICES / "auth" / "migrations")
        await migrate(pool, "crisis", SERVICES / "crisis" / "migrations")
        redis = aioredis.Redis.from_url(redis_url)
        stack.push_async_callback(redis.aclose)

        auth = await AuthServicer.create(
            pool, redis, clock=clock, jwks_path=tmp / "jwks.json", box=BOX, passwords=CHEAP
        )
        store = AuthStore(pool)
        await store.ensure_organization(ORG, "Console Test Care Home")
        secrets, user_ids = {}, {}
        for username in ("ana@care", "ben@care"):
            user_id = f"u-{username.split('@')[0]}"
            secrets[username] = totp.new_secret()
            await store.create_user(
                user_id=user_id,
                organization_id=ORG,
                username=username,
                email=f"{username.split('@')[0]}@example.org",
                display_name=username,
                role=Role.CARE_STAFF,
                password_hash=CHEAP.hash(PASSWORD),
                # Care staff see the alerts of the residents they care for.
                relations=(PatientRelation(RESIDENT, Relationship.CAREGIVER, ConsentLevel.FULL),),
                created_at=clock.wall(),
                mfa_secret=BOX.seal(secrets[username].encode(), f"mfa:{user_id}"),
            )
            user_ids[username] = user_id
        verifier = auth.keys.verifier()
        auth_server = await stack.enter_async_context(
            serve(
                [auth],
                registry=registry,
                access=TokenAccessController(verifier=verifier, clock=clock),
            )
        )

        # A private feed channel: pub/sub channels are shared by every db index of a server.
        config = CrisisConfig(channel=f"lilo:crisis:console:{uuid.uuid4().hex}", poll_interval=0.2)
        crisis = assemble(pool, redis, config=config, clock=clock, notifiers=[])
        crisis.bus.start()  # the feed; the escalator stays off (no timers in this test)
        stack.push_async_callback(crisis.close)
        crisis_server = await stack.enter_async_context(
            serve(
                [crisis.servicer],
                registry=registry,
                access=TokenAccessController(verifier=verifier, facts=NoFacts(ORG), clock=clock),
            )
        )

        app = create_app(registry=registry)
        await stack.enter_async_context(app.router.lifespan_context(app))
        for service in (CRISIS, AUTH):
            await app.state.gateway.mesh.channel(service).wait_for_endpoints(1, timeout=5)
        yield Mesh(app, clock, crisis_server.address, auth_server.address, secrets, user_ids)


async def _sign_in(page: Any, base: str, mesh: Mesh, username: str) -> None:
    await page.goto(f"{base}/console")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-btn")
    await page.wait_for_selector("#mfa-form:not(.hidden)")
    await page.fill("#mfa-code", mesh.code(username))
    await page.click("#mfa-btn")
    try:
        await page.wait_for_function(
            "document.getElementById('feed-status').textContent === 'live'", timeout=10_000
        )
    except Exception:
        status = await page.locator("#feed-status").text_content()
        problem = await page.locator("#login-error").text_content()
        raise AssertionError(f"{username}: feed {status!r}, sign-in error {problem!r}") from None


async def _grpc_token(mesh: Mesh, username: str) -> str:
    """Sign in over gRPC, as another client of the same auth service would."""
    mesh.next_code_window()
    async with aio.insecure_channel(mesh.auth_address) as channel:
        stub = auth_grpc.AuthServiceStub(channel)
        login = await stub.Login(auth_pb.LoginRequest(username=username, password=PASSWORD))
        done = await stub.VerifyMfa(
            auth_pb.VerifyMfaRequest(
                challenge_token=login.mfa_challenge.challenge_token, code=mesh.code(username)
            )
        )
    return done.tokens.access_token


@pytest.mark.timeout(60)
async def test_console_shows_live_alerts_and_acknowledge_updates_every_open_page(
    fresh_database: str, redis_db_url: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    async with (
        real_mesh(fresh_database, redis_db_url, tmp_path) as mesh,
        live_server(mesh.app) as address,
    ):
        base = f"http://{address}"
        with tempfile.TemporaryDirectory() as profile:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch_persistent_context(
                    profile,
                    executable_path=CHROMIUM,
                    headless=True,
                    args=[
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                    ],
                )
                try:
                    first = await browser.new_page()
                    # A wrong password: auth's UNAUTHENTICATED shows as HTTP 401, no sign-in.
                    await first.goto(f"{base}/console")
                    await first.fill("#username", "ana@care")
                    await first.fill("#password", "wrong password")
                    await first.click("#login-btn")
                    await expect(first.locator("#login-error")).to_contain_text("HTTP 401")
                    await expect(first.locator("#mfa-form")).to_be_hidden()

                    await _sign_in(first, base, mesh, "ana@care")
                    second = await browser.new_page()
                    await _sign_in(second, base, mesh, "ben@care")

                    token = await _grpc_token(mesh, "ana@care")
                    bearer = [("authorization", f"Bearer {token}")]
                    async with aio.insecure_channel(mesh.crisis_address) as channel:
                        crisis = pb_grpc.CrisisServiceStub(channel)
                        created = await crisis.CreateAlert(
                            pb.CreateAlertRequest(
                                resident_id=RESIDENT,
                                source="chat",
                                level=safety_pb.CRISIS_LEVEL_HIGH,
                                excerpt="needs help now",
                            ),
                            metadata=bearer,
                        )
                        alert_id = created.alert.alert_id
                        row = f'tr[data-alert-id="{alert_id}"]'
                        for page in (first, second):  # appears without a refresh
                            await expect(page.locator(f"{row} .state")).to_have_text(
                                "ALERT_STATE_OPEN"
                            )
                            await expect(page.locator(row)).to_contain_text("needs help now")

                        # Ben acknowledges on his page; Ana's page follows, and both disable
                        # the button.
                        await second.click(f"{row} button.ack")
                        for page in (first, second):
                            await expect(page.locator(f"{row} .state")).to_have_text(
                                "ALERT_STATE_ACKNOWLEDGED"
                            )
                            await expect(page.locator(f"{row} button.ack")).to_be_disabled()
                        stored = await crisis.GetAlert(
                            pb.GetAlertRequest(alert_id=alert_id), metadata=bearer
                        )
                        # Crisis saw Ben's browser token, not the gateway's or Ana's.
                        assert stored.alert.acknowledged_by == mesh.user_ids["ben@care"]

                        await first.click(f"{row} button.escalate")
                        await expect(second.locator(f"{row} .state")).to_have_text(
                            "ALERT_STATE_ESCALATED"
                        )

                    health = first.locator(f'li[data-service="{CRISIS}"]')
                    await expect(health).to_have_class("serving")
                    await expect(first.locator(f'li[data-service="{AUTH}"]')).to_have_class(
                        "serving"
                    )
                finally:
                    await browser.close()
