"""Embedded servers outlive nothing: a watchdog stops them if their owner dies unannounced.

``mesh.embedded`` stops its servers from an ``atexit`` hook, which does not run when the
owning process is SIGKILLed (an OOM kill, a CI timeout, ``kill -9`` on ``scripts/up``).
Linux's parent-death signal is no help either: it follows the *thread* that forked, not
the process. So the owner starts one small watchdog process (this file, run as a script:
standard library only) and keeps the write end of a pipe to its stdin. It tells the
watchdog which servers it owns, one line each::

    + PID STARTTIME SIGNAL     watch PID (STARTTIME from /proc/PID/stat); stop it with SIGNAL
    - PID                      the owner stopped PID itself

End of file on stdin means the owner is gone, however it ended (the kernel closes the
pipe). The watchdog then sends each still-watched server its stop signal, waits for it
to exit, SIGKILLs it after a grace period, and exits. A PID whose start time no longer
matches belongs to some other process by now and is left alone.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "GRACE_SECONDS",
    "Watchdog",
    "process_start_time",
    "stop_orphans",
    "watch_until_eof",
]

GRACE_SECONDS = 10.0  # from the stop signal to SIGKILL


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None if PID is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ")".
    return stat[stat.rindex(")") + 2 :].split()[19]


def stop_orphans(watched: dict[int, tuple[str, int]], grace: float = GRACE_SECONDS) -> None:
    """Stop every watched PID still running with its recorded start time."""
    exits: set[int] = set()  # pidfds of the servers signalled
    for pid, (started, sig) in watched.items():
        try:
            fd = os.pidfd_open(pid)  # pins the process: checked and signalled as one
        except OSError:
            continue  # gone already
        try:
            if process_start_time(pid) != started:
                raise ProcessLookupError(pid)  # the PID now names another process
            signal.pidfd_send_signal(fd, sig)
        except OSError:
            os.close(fd)
            continue
        exits.add(fd)
    deadline = time.monotonic() + grace
    while exits:
        left = deadline - time.monotonic()
        if left <= 0:
            for fd in exits:
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                os.close(fd)
            return
        ready, _, _ = select.select(list(exits), [], [], left)
        for fd in ready:  # a pidfd is readable once its process has exited
            exits.discard(fd)
            os.close(fd)


def watch_until_eof(lines: Iterable[str]) -> dict[int, tuple[str, int]]:
    """Apply the owner's ``+``/``-`` lines; what is still watched at the end."""
    watched: dict[int, tuple[str, int]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[0] == "+":
            watched[int(parts[1])] = (parts[2], int(parts[3]))
        elif len(parts) == 2 and parts[0] == "-":
            watched.pop(int(parts[1]), None)
    return watched


class Watchdog:
    """The owner's side: starts the watchdog on first use and tells it what to watch.

    Best effort by design: if the watchdog cannot be started or has died, servers are
    still stopped by their owner's ``atexit`` hook as before; only the SIGKILL case is
    then uncovered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def watch(self, pid: int, stop_signal: int) -> None:
        started = process_start_time(pid)
        if started is not None:
            self._send(f"+ {pid} {started} {int(stop_signal)}\n")

    def unwatch(self, pid: int) -> None:
        self._send(f"- {pid}\n")

    def close(self) -> None:
        """The owner is done and has stopped its servers: end the watchdog (end of file
        with nothing left to stop) and reap it."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def _send(self, line: str) -> None:
        with self._lock:
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", __file__],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    start_new_session=True,  # Ctrl-C for the owner is not for the watchdog
                )
            stdin = self._proc.stdin
            if stdin is None or self._proc.poll() is not None:
                return
            with contextlib.suppress(OSError, ValueError):
                stdin.write(line)
                stdin.flush()


if __name__ == "__main__":
    stop_orphans(watch_until_eof(sys.stdin))
