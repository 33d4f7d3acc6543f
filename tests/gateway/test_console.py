"""The operator console in a real headless Chromium, through a real uvicorn socket.

The crisis and auth backends are small in-test stand-ins (in-memory feed; a login that always
asks for an MFA code) served over real gRPC: the console is under test, not those services.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest
from grpc import aio
from lilo.auth.v1 import auth_service_pb2 as auth_pb
from lilo.auth.v1 import auth_service_pb2_grpc as auth_grpc
from lilo.crisis.v1 import crisis_service_pb2 as pb
from lilo.crisis.v1 import crisis_service_pb2_grpc as pb_grpc
from lilo.safety.v1 import safety_service_pb2 as safety_pb

from mesh.status import NotFound, Unauthenticated
from tests.gateway.gwkit import echo_env, live_server

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
)
TOKEN = "console-test-token"


class FeedStandIn(pb_grpc.CrisisServiceServicer):
    """CreateAlert / AcknowledgeAlert / EscalateAlert / ListAlerts / WatchAlerts in memory;
    every change is an event with a cursor, watchers resume after a cursor."""

    def __init__(self) -> None:
        self.alerts: dict[str, pb.Alert] = {}
        self.events: list[pb.AlertEvent] = []
        self.changed = asyncio.Condition()
        self.ids = itertools.count(1)
        self.authorizations: list[str] = []

    async def _emit(self, kind: Any, alert: pb.Alert, actor: str) -> None:
        event = pb.AlertEvent(cursor=f"{len(self.events) + 1:08d}", type=kind, actor=actor)
        event.alert.CopyFrom(alert)
        async with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    async def CreateAlert(
        self, request: pb.CreateAlertRequest, context: Any
    ) -> pb.CreateAlertResponse:
        alert = pb.Alert(
            alert_id=f"a-{next(self.ids)}",
            resident_id=request.resident_id,
            source=request.source,
            level=request.level,
            excerpt=request.excerpt,
            state=pb.ALERT_STATE_OPEN,
            tier=pb.ESCALATION_TIER_CARE_STAFF,
        )
        alert.created_at.GetCurrentTime()
        self.alerts[alert.alert_id] = alert
        await self._emit(pb.ALERT_EVENT_TYPE_CREATED, alert, "test")
        return pb.CreateAlertResponse(alert=alert)

    def _get(self, alert_id: str, context: Any) -> pb.Alert:
        self.authorizations.append(dict(context.invocation_metadata()).get("authorization", ""))
        alert = self.alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"alert {alert_id} not found")
        return alert

    async def AcknowledgeAlert(
        self, request: pb.AcknowledgeAlertRequest, context: Any
    ) -> pb.AcknowledgeAlertResponse:
        alert = self._get(request.alert_id, context)
        alert.state = pb.ALERT_STATE_ACKNOWLEDGED
        alert.acknowledged_by = "operator"
        await self._emit(pb.ALERT_EVENT_TYPE_ACKNOWLEDGED, alert, "operator")
        return pb.AcknowledgeAlertResponse(alert=alert)

    async def EscalateAlert(
        self, request: pb.EscalateAlertRequest, context: Any
    ) -> pb.EscalateAlertResponse:
        alert = self._get(request.alert_id, context)
        alert.state = pb.ALERT_STATE_ESCALATED
        alert.tier = min(alert.tier + 1, pb.ESCALATION_TIER_EMERGENCY_SERVICES)  # type: ignore[assignment]
        await self._emit(pb.ALERT_EVENT_TYPE_ESCALATED, alert, "operator")
        return pb.EscalateAlertResponse(alert=alert)

    async def ListAlerts(
        self, request: pb.ListAlertsRequest, context: Any
    ) -> pb.ListAlertsResponse:
        return pb.ListAlertsResponse(alerts=list(reversed(self.alerts.values())))

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: Any
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        if request.resume_cursor:
            position = int(request.resume_cursor)
        else:
            position = 0 if request.replay_all else len(self.events)
        while True:
            async with self.changed:
                await self.changed.wait_for(_more_than(self.events, position))
                batch = self.events[position:]
            for event in batch:
                position += 1
                yield pb.WatchAlertsResponse(event=event)


def _more_than(events: list[pb.AlertEvent], position: int) -> Any:
    return lambda: len(events) > position


class LoginStandIn(auth_grpc.AuthServiceServicer):
    """A login that always asks for a TOTP code; 123456 is the right one."""

    async def Login(self, request: auth_pb.LoginRequest, context: Any) -> auth_pb.LoginResponse:
        if (request.username, request.password) != ("operator", "correct horse"):
            raise Unauthenticated("wrong user name or password")
        return auth_pb.LoginResponse(mfa_challenge=auth_pb.MfaChallenge(challenge_token="ch-1"))

    async def VerifyMfa(
        self, request: auth_pb.VerifyMfaRequest, context: Any
    ) -> auth_pb.VerifyMfaResponse:
        if (request.challenge_token, request.code) != ("ch-1", "123456"):
            raise Unauthenticated("wrong code")
        return auth_pb.VerifyMfaResponse(tokens=auth_pb.AuthTokens(access_token=TOKEN))


async def _sign_in(page: Any, base: str, password: str = "correct horse") -> None:
    await page.goto(f"{base}/console")
    await page.fill("#username", "operator")
    await page.fill("#password", password)
    await page.click("#login-btn")
    await page.wait_for_selector("#mfa-form:not(.hidden)")
    await page.fill("#mfa-code", "123456")
    await page.click("#mfa-btn")
    await page.wait_for_function("document.getElementById('feed-status').textContent === 'live'")


async def test_console_shows_live_alerts_and_acknowledge_updates_every_open_page() -> None:
    from playwright.async_api import async_playwright, expect

    feed, login = FeedStandIn(), LoginStandIn()
    async with echo_env(servicers=(feed, login)) as env, live_server(env.app) as address:
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
                    # A wrong password shows the gateway's error and does not sign in.
                    await first.goto(f"{base}/console")
                    await first.fill("#username", "operator")
                    await first.fill("#password", "wrong")
                    await first.click("#login-btn")
                    await expect(first.locator("#login-error")).to_contain_text("HTTP 401")

                    await _sign_in(first, base)
                    second = await browser.new_page()
                    await _sign_in(second, base)

                    async with aio.insecure_channel(env.server.address) as channel:
                        created = await pb_grpc.CrisisServiceStub(channel).CreateAlert(
                            pb.CreateAlertRequest(
                                resident_id="r-7",
                                source="chat",
                                level=safety_pb.CRISIS_LEVEL_HIGH,
                                excerpt="needs help now",
                            )
                        )
                    alert_id = created.alert.alert_id
                    row = f'tr[data-alert-id="{alert_id}"]'
                    for page in (first, second):  # appears without a refresh
                        await expect(page.locator(f"{row} .state")).to_have_text("ALERT_STATE_OPEN")
                        await expect(page.locator(row)).to_contain_text("needs help now")

                    await first.click(f"{row} button.ack")
                    await expect(second.locator(f"{row} .state")).to_have_text(
                        "ALERT_STATE_ACKNOWLEDGED"
                    )
                    await expect(first.locator(f"{row} .state")).to_have_text(
                        "ALERT_STATE_ACKNOWLEDGED"
                    )
                    await second.click(f"{row} button.escalate")
                    await expect(first.locator(f"{row} .state")).to_have_text(
                        "ALERT_STATE_ESCALATED"
                    )
                    assert feed.authorizations == [f"Bearer {TOKEN}", f"Bearer {TOKEN}"]

                    health = first.locator('li[data-service="lilo.crisis.v1.CrisisService"]')
                    await expect(health).to_have_class("serving")
                finally:
                    await browser.close()
