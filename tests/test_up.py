"""scripts/up end to end: a fresh state dir, no external Redis or PostgreSQL, the whole mesh.

A crisis message sent through REST must reach an operator's SSE feed; the services,
talking over mTLS, report their traffic to the metrics service, whose watch (through the
gateway) shows the crisis service's request rate; and Ctrl-C (SIGINT) must stop every
process the launcher started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from mesh.identity import totp
from services.auth.seed import DEMO_PASSWORD, DEMO_USERS, demo_user_id

ROOT = Path(__file__).resolve().parents[1]
GATEWAY_PORT = 18090


def login(http: httpx.Client, username: str) -> dict[str, str]:
    """Password + TOTP login of a demo user; returns the authorization header."""
    user = next(u for u in DEMO_USERS if u.username == username)
    login = http.post("/v1/auth:login", json={"username": username, "password": DEMO_PASSWORD})
    code = totp.code_at(user.totp_secret or "", totp.step_at(time.time()))
    verified = http.post(
        "/v1/auth/mfa:verify",
        json={"challengeToken": login.json()["mfaChallenge"]["challengeToken"], "code": code},
    ).json()
    return {"authorization": f"Bearer {verified['tokens']['accessToken']}"}


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if needle in line or "FAILED" in line:
            break
    return lines


def launch_up(tmp_path: Path, *args: str, **env_extra: str) -> subprocess.Popen[str]:
    """``scripts/up`` as a fresh machine runs it: no Redis/PostgreSQL URL, own state dir."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.pop("LILO_STATE_DIR", None)
    env.update(env_extra)
    return subprocess.Popen(
        [sys.executable, "-m", "mesh.cli.up", "--state-dir", str(tmp_path / "state"), *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.timeout(240)
def test_up_runs_the_mesh_and_stops_everything(tmp_path: Path) -> None:
    proc = launch_up(
        tmp_path,
        "--gateway-port",
        str(GATEWAY_PORT),
        "--services",
        "auth,audit,consent,emergency,relationships,safety,crisis,metrics",
        LILO_METRICS_REPORT_INTERVAL="0.5",  # two reports apart within a second
    )
    launched: list[psutil.Process] = []
    try:
        lines = wait_for_line(proc, "Ctrl-C drains", timeout=180)
        output = "".join(lines)
        assert "Ctrl-C drains" in output, output
        assert "embedded Redis" in output and "embedded PostgreSQL" in output
        assert "mTLS: dev CA" in output
        launched = psutil.Process(proc.pid).children(recursive=True)
        assert len(launched) >= 8  # redis, postgres, services, gateway

        base = f"http://127.0.0.1:{GATEWAY_PORT}"
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/health/live").status_code == 200
            auth = login(http, "staff@demo")
            resident = demo_user_id("resident@demo")

            screened = http.post(
                f"/v1/residents/{resident}/content:screen",
                headers=auth,
                json={
                    "content": "I have the pills here and I am going to kill myself tonight",
                    "source": "chat",
                },
            )
            assert screened.status_code == 200, screened.text
            alert_id = screened.json()["alert"]["alertId"]

            events = []
            with http.stream(
                "GET",
                "/v1/alerts:watch",
                params={"replayAll": "true"},
                headers={**auth, "accept": "text/event-stream"},
            ) as feed:
                for line in feed.iter_lines():
                    if line.startswith("data:"):
                        events.append(json.loads(line[5:]))
                        if any(e["event"]["alert"]["alertId"] == alert_id for e in events):
                            break
            assert events[-1]["event"]["type"] == "ALERT_EVENT_TYPE_CREATED"

            # Crisis reported its traffic (over mTLS, by its certificate) to metrics.
            rates: dict[str, float] = {}
            snapshots = 0
            with http.stream(
                "GET",
                "/v1/metrics:watch",
                params={"interval": "0.2s", "window": "30s"},
                headers={**login(http, "system@demo"), "accept": "text/event-stream"},
            ) as feed:
                for line in feed.iter_lines():
                    if line.startswith("data:"):
                        for snap in json.loads(line[5:])["services"]:
                            rates[snap["service"]] = snap.get("requestRate", 0.0)
                        snapshots += 1
                        if rates.get("lilo.crisis.v1.CrisisService", 0.0) > 0 or snapshots > 100:
                            break  # (100 snapshots: 20 s of reports at 0.5 s intervals)
            assert rates["lilo.crisis.v1.CrisisService"] > 0, rates
            assert "lilo.metrics.v1.MetricsService" not in rates  # metrics does not self-report
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    still_running = [p for p in launched if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert still_running == [], [p.cmdline() for p in still_running]
    assert proc.returncode == 0


@pytest.mark.timeout(120)
def test_a_killed_launcher_leaves_nothing_running(tmp_path: Path) -> None:
    """SIGKILL gives the launcher no chance to stop its children: the watchdogs do it."""
    proc = launch_up(tmp_path, "--services", "echo", "--no-gateway", "--no-mtls")
    try:
        output = "".join(wait_for_line(proc, "Ctrl-C drains", timeout=90))
        assert "Ctrl-C drains" in output, output
        launched = psutil.Process(proc.pid).children(recursive=True)
        labels = " ".join(" ".join(p.cmdline()) for p in launched)
        assert "services.echo" in labels and "redis-server" in labels, labels
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    # Services get SIGTERM and drain; the embedded servers get their own stop signal.
    # psutil waits on each PID (no polling loop of ours); anything left after the reaper's
    # grace (10 s) plus a drain is a leak.
    _, alive = psutil.wait_procs(launched, timeout=45)
    assert alive == [], [p.cmdline() for p in alive]
