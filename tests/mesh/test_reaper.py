"""The orphan watchdog: embedded servers do not outlive an owner killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mesh.reaper import process_start_time, stop_orphans, watch_until_eof

ROOT = Path(__file__).resolve().parents[2]


def _exits_within(pid: int, seconds: float) -> bool:
    """Wait for ``pid`` (not our child) to exit: a pidfd turns readable when it has."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], seconds)
        return bool(ready)
    finally:
        os.close(fd)


def test_the_owners_lines_leave_what_it_did_not_stop_itself() -> None:
    lines = ["+ 10 111 15\n", "+ 11 222 2\n", "- 10\n", "garbage\n", "+ 12 333 15\n"]
    assert watch_until_eof(lines) == {11: ("222", 2), 12: ("333", 15)}


def test_a_pid_that_now_names_another_process_is_left_alone() -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        started = process_start_time(sleeper.pid)
        assert started is not None
        stop_orphans({sleeper.pid: (started + "0", signal.SIGTERM)}, grace=1)
        assert sleeper.poll() is None
        stop_orphans({sleeper.pid: (started, signal.SIGTERM)}, grace=5)
        assert sleeper.wait(timeout=5) == -signal.SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_server_that_ignores_its_stop_signal_is_killed_after_the_grace() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            " print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
        started = process_start_time(stubborn.pid)
        assert started is not None
        stop_orphans({stubborn.pid: (started, signal.SIGTERM)}, grace=0.5)
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
    finally:
        stubborn.kill()
        stubborn.wait()


OWNER = """
import sys
from mesh.embedded import EmbeddedPostgres, EmbeddedRedis
state = sys.argv[1]
redis = EmbeddedRedis(state + "/redis").start()
postgres = EmbeddedPostgres(state + "/pg").start()
print(redis.pid, postgres.pid, flush=True)
sys.stdin.read()  # until the test kills us
"""


@pytest.mark.redis
def test_servers_of_an_owner_killed_with_sigkill_are_stopped(scratch_dir: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(scratch_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    servers: list[int] = []
    try:
        assert owner.stdout is not None
        servers += map(int, owner.stdout.readline().split())
        owner.kill()  # no atexit hook runs
        owner.wait()
        redis_pid, postgres_pid = servers
        assert _exits_within(redis_pid, 20), "redis-server outlived its SIGKILLed owner"
        assert _exits_within(postgres_pid, 40), "postgres outlived its SIGKILLed owner"
    finally:
        owner.kill()
        owner.wait()
        for pid in servers:  # only if the assertion failed: leave nothing behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


CLEAN_OWNER = """
from mesh import embedded
from mesh.embedded import EmbeddedRedis
redis = EmbeddedRedis(__import__("sys").argv[1] + "/redis").start()
print(redis.pid, embedded._registry._watchdog._proc.pid, flush=True)
"""


@pytest.mark.redis
def test_an_owner_that_exits_normally_stops_its_servers_and_its_watchdog(
    scratch_dir: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", CLEAN_OWNER, str(scratch_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    redis_pid, watchdog_pid = map(int, done.stdout.split())
    assert _exits_within(redis_pid, 5)  # stopped by the atexit hook
    assert _exits_within(watchdog_pid, 5)  # told it is done, and reaped
    assert "ResourceWarning" not in done.stderr
