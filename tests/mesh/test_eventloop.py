"""The event loop of served processes: uvloop by default, the standard loop on request."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvloop

from mesh import eventloop
from mesh.errors import ConfigError
from tests.mesh.runnerkit import ROOT, run_python, runner_child_env


def test_uvloop_unless_the_environment_says_asyncio() -> None:
    assert eventloop.loop_name({}) == "uvloop"
    assert eventloop.loop_name({"LILO_EVENT_LOOP": " AsyncIO "}) == "asyncio"
    with pytest.raises(ConfigError, match="LILO_EVENT_LOOP='trio': expected one of"):
        eventloop.loop_name({"LILO_EVENT_LOOP": "trio"})


def test_run_returns_the_result_on_a_loop_of_the_named_kind() -> None:
    async def kind() -> type[asyncio.AbstractEventLoop]:
        return type(asyncio.get_running_loop())

    assert eventloop.run(kind, name="uvloop") is uvloop.Loop
    assert not issubclass(eventloop.run(kind, name="asyncio"), uvloop.Loop)


def test_a_missing_uvloop_falls_back_to_the_standard_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert eventloop.loop_factory("uvloop") is asyncio.new_event_loop


# A service started by the real runner reports the loop it serves on, then stops itself.
RUNNER_PROBE = """
import asyncio, os, signal
import mesh.runner as runner
from services.echo.servicer import EchoServicer

async def build(deps):
    return [EchoServicer("probe")]

def spy():
    print("LOOP", type(asyncio.get_running_loop()).__module__.partition(".")[0], flush=True)
    asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

runner.tune_gc = spy
runner.run("echo", build, default_port=0)
"""


def _serve_probe(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_python(RUNNER_PROBE, runner_child_env(tmp_path, **extra))


@pytest.mark.parametrize(("setting", "served_on"), [(None, "uvloop"), ("asyncio", "asyncio")])
def test_runner_serves_on_the_configured_loop(
    tmp_path: Path, setting: str | None, served_on: str
) -> None:
    done = _serve_probe(tmp_path, **({"LILO_EVENT_LOOP": setting} if setting else {}))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["LOOP", served_on]
    assert "READY echo" in done.stdout


def test_runner_refuses_an_unknown_loop_with_exit_2(tmp_path: Path) -> None:
    done = _serve_probe(tmp_path, LILO_EVENT_LOOP="tornado")
    assert done.returncode == 2
    assert "LILO_EVENT_LOOP='tornado'" in done.stderr
    assert "READY" not in done.stdout


def test_gateway_refuses_an_unknown_loop_with_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway_rest"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=dict(os.environ, LILO_EVENT_LOOP="tornado", LILO_GATEWAY_PORT="0"),
    )
    assert done.returncode == 2
    assert "gateway: LILO_EVENT_LOOP='tornado'" in done.stderr
