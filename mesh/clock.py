"""Injectable time source for the mesh's pure decision logic.

Two readings are offered because they answer different questions:

* ``now()`` is monotonic seconds: use it for durations, deadlines, timeouts, backoff, EWMA
  decay and lease expiry. It never goes backwards, but its origin is arbitrary, so its
  values must not be stored outside the process or compared across processes.
* ``wall()`` is epoch seconds (UTC): use it only for values that leave the process
  (timestamps in registry records, logs). It can jump when the host's clock is adjusted.

Production code takes a ``Clock`` parameter defaulting to ``SystemClock()``; tests pass a
``FakeClock`` and call ``advance()``, so no test ever sleeps to let time pass.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of time. See the module docstring for which reading to use when."""

    def now(self) -> float:
        """Monotonic seconds (arbitrary origin)."""
        ...

    def wall(self) -> float:
        """Epoch seconds (UTC, may jump)."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic()`` and ``time.time()``."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A manually driven clock for tests.

    ``now()`` starts at ``start``; ``wall()`` starts at ``wall_start`` (a fixed, realistic
    epoch by default so that code formatting timestamps gets plausible values). Both move
    only through ``advance()``/``set()``, and always by the same amount.
    """

    __slots__ = ("_mono", "_wall")

    #: 2025-01-01T00:00:00Z; arbitrary but fixed so tests are reproducible.
    DEFAULT_WALL_START = 1_735_689_600.0

    def __init__(self, start: float = 0.0, *, wall_start: float = DEFAULT_WALL_START) -> None:
        self._mono = float(start)
        self._wall = float(wall_start)

    def now(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both readings forward by ``seconds`` (must be >= 0: time is monotonic)."""
        if seconds < 0:
            raise ValueError(f"FakeClock cannot go backwards (advance({seconds!r}))")
        self._mono += seconds
        self._wall += seconds

    def set(self, now: float) -> None:
        """Jump the monotonic reading to ``now`` (not earlier than the current one)."""
        self.advance(now - self._mono)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._mono!r}, wall={self._wall!r})"
