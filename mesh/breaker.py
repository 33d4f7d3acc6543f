"""Per-endpoint failure isolation: a circuit breaker and an outlier detector.

``EndpointBreaker`` wraps one pybreaker ``CircuitBreaker`` (which keeps the failure and
success counters, thresholds and state machine) and adds what pybreaker lacks for
asyncio gRPC calls:

* Accounting after the await. ``await breaker.call(async_fn)`` would count a success as
  soon as the coroutine object is created. ``EndpointBreaker.run`` admits the call first,
  awaits it, then records the outcome through ``CircuitBreaker.calling()``; that is the
  ``with breaker.calling(): return await ...`` pattern split in two, so that:
* cancellation is neutral. ``asyncio.CancelledError`` (a hedge that lost, a caller that
  gave up) says nothing about the endpoint; pybreaker has no neutral outcome and would
  count it as a failure or, worse, as the success that closes a half-open breaker;
* stale results are dropped. A call that started before the breaker changed state (e.g.
  one of fifty calls in flight when the breaker opened) does not count in the new state:
  otherwise late failures keep re-opening a breaker and late successes close it;
* half-open admits at most ``max_half_open_calls`` trial calls at once; the others are
  rejected at once with ``CircuitOpenError``, as if the breaker were open;
* time comes from the injected ``Clock``. pybreaker reads ``datetime.now()`` itself and
  offers no hook, so the open -> half-open transition is done here (``half_open()`` is
  called once ``reset_timeout_s`` has passed on the injected clock) and pybreaker's own
  timer never gets to fire;
* a cheap hot path. The state is mirrored from pybreaker's listener, so ``available`` and
  ``admit`` read one attribute, and a success (or a non-failure error) while closed with
  no failures counted skips pybreaker entirely: there it would take a lock, walk the
  listeners and reset a counter that is already zero, i.e. change nothing.

``OutlierDetector`` is pure bookkeeping in the manner of Envoy's consecutive-5xx outlier
detection, for the balancer to skip ejected endpoints.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import grpc
import pybreaker

from mesh.balancing import Endpoint
from mesh.clock import Clock, SystemClock
from mesh.errors import CircuitOpenError, ConfigError

__all__ = [
    "FAILURE_CODES",
    "BreakerState",
    "EndpointBreaker",
    "OutlierConfig",
    "OutlierDetector",
    "is_endpoint_failure",
]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]

FAILURE_CODES: frozenset[grpc.StatusCode] = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
"""Status codes that say the endpoint, not the request, is in trouble."""


def is_endpoint_failure(exc: BaseException) -> bool:
    """Default predicate: does ``exc`` count against the endpoint's health?

    gRPC errors count when their code is in ``FAILURE_CODES`` (INVALID_ARGUMENT,
    NOT_FOUND, PERMISSION_DENIED... are the caller's problem, and show the endpoint alive).
    A local ``TimeoutError`` (``asyncio.timeout`` around the call) and ``ConnectionError``
    count too; any other exception does not.
    """
    if isinstance(exc, grpc.RpcError):
        code = getattr(exc, "code", None)
        return callable(code) and code() in FAILURE_CODES
    return isinstance(exc, TimeoutError | ConnectionError)


_PYBREAKER_STATES: dict[str, BreakerState] = {
    pybreaker.STATE_CLOSED: "closed",
    pybreaker.STATE_OPEN: "open",
    pybreaker.STATE_HALF_OPEN: "half_open",
}


class _Outcome(Exception):
    """Carries a call's exception into pybreaker's accounting without re-raising it."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__()
        self.cause = cause


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: EndpointBreaker) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._owner._on_state_change(
            _PYBREAKER_STATES[old_state.name] if old_state is not None else None,
            _PYBREAKER_STATES[new_state.name],
        )


class EndpointBreaker:
    """Circuit breaker for the calls to one endpoint.

    * closed: calls go through; ``fail_max`` consecutive failures (as judged by
      ``is_failure``) open it. A non-failure error counts as a success (the endpoint
      answered), which resets the consecutive count.
    * open: calls are rejected with ``CircuitOpenError`` without running, until
      ``reset_timeout_s`` has passed on ``clock``; then it turns half-open.
    * half_open: at most ``max_half_open_calls`` trial calls run at once; others are
      rejected. A trial failure re-opens it (for another ``reset_timeout_s``);
      ``success_threshold`` trial successes close it.

    ``on_state_change(old, new)`` is called on every transition (for metrics and logs;
    ``old`` is None only for the initial state). Not thread-safe: one event loop.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        fail_max: int = 5,
        reset_timeout_s: float = 30.0,
        success_threshold: int = 1,
        max_half_open_calls: int = 1,
        is_failure: Callable[[BaseException], bool] = is_endpoint_failure,
        clock: Clock | None = None,
        on_state_change: Callable[[BreakerState | None, BreakerState], None] | None = None,
    ) -> None:
        if fail_max < 1 or success_threshold < 1 or max_half_open_calls < 1:
            raise ConfigError("fail_max, success_threshold, max_half_open_calls must be >= 1")
        if reset_timeout_s < 0:
            raise ConfigError("reset_timeout_s must be >= 0")
        self.endpoint = endpoint
        self._reset_timeout_s = reset_timeout_s
        self._max_half_open = max_half_open_calls
        self._is_failure = is_failure
        self._clock = clock or SystemClock()
        self._notify = on_state_change
        self._generation = 0
        self._trials = 0
        self._opened_at = 0.0
        self._state: BreakerState = "closed"  # mirror of pybreaker's state (see _on_state_change)
        self._clean = True  # closed with no failure counted: a success changes nothing
        self._cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            # Never consulted: run() turns the breaker half-open itself, on the injected
            # clock, before pybreaker's open state would look at its datetime-based timer.
            reset_timeout=reset_timeout_s,
            success_threshold=success_threshold,
            exclude=[self._excluded],
            listeners=[_Listener(self)],
            name=endpoint,
            throw_new_error_on_trip=False,
        )
        self._state = _PYBREAKER_STATES[self._cb.current_state]

    # -- state -------------------------------------------------------------------------

    def _on_state_change(self, old: BreakerState | None, new: BreakerState) -> None:
        # Every transition starts a new generation: results of calls admitted in an
        # earlier one are stale, and half-open trial slots start empty.
        self._generation += 1
        self._trials = 0
        self._state = new
        self._clean = new == "closed" and self._cb.fail_counter == 0
        if new == "open":
            self._opened_at = self._clock.now()
        if self._notify is not None:
            self._notify(old, new)

    def _open_remaining(self) -> float:
        return self._opened_at + self._reset_timeout_s - self._clock.now()

    @property
    def state(self) -> BreakerState:
        """Current state; an open breaker whose timeout has passed reads as half_open."""
        st = self._state
        if st == "open" and self._open_remaining() <= 0:
            return "half_open"
        return st

    @property
    def closed(self) -> bool:
        """True in the closed state (the hot path: no time or slot check needed)."""
        return self._state == "closed"

    @property
    def available(self) -> bool:
        """Would ``run`` admit a call right now? (For balancers skipping open endpoints.)"""
        st = self._state
        if st == "closed":
            return True
        if st == "open":
            return self._open_remaining() <= 0
        return self._trials < self._max_half_open

    @property
    def fail_counter(self) -> int:
        """Consecutive failures counted so far."""
        return self._cb.fail_counter

    def trip(self) -> None:
        """Force the breaker open (operator action); the reset timeout starts now."""
        self._cb.open()

    def reset(self) -> None:
        """Force the breaker closed, with a zero failure count."""
        self._cb.close()

    # -- calls -------------------------------------------------------------------------

    def _excluded(self, exc: Any) -> bool:
        # pybreaker's exclusion hook: True means "not a failure" (counted as a success).
        return not (isinstance(exc, _Outcome) and self._is_failure(exc.cause))

    def admit(self) -> tuple[int, bool]:
        """Admit one call or raise ``CircuitOpenError``; pass the result to ``settle``.

        ``run`` split in two, for callers that cannot wrap the call in a closure cheaply.
        """
        st = self._state
        if st == "closed":
            return self._generation, False
        if st == "open":
            remaining = self._open_remaining()
            if remaining > 0:
                raise CircuitOpenError(self.endpoint, remaining_s=remaining)
            self._cb.half_open()
            st = self._state
        if st == "half_open":
            if self._trials >= self._max_half_open:
                raise CircuitOpenError(self.endpoint)
            self._trials += 1
            return self._generation, True
        return self._generation, False

    def settle(self, admitted: tuple[int, bool], exc: BaseException | None) -> None:
        """Record the outcome of a call ``admit`` let through (``exc`` None on success)."""
        generation, trial = admitted
        if generation != self._generation:
            return  # stale: the breaker changed state while this call was in flight
        if trial:
            self._trials -= 1
        if exc is not None and not isinstance(exc, Exception):
            return  # CancelledError, KeyboardInterrupt...: neutral
        if self._clean and (exc is None or not self._is_failure(exc)):
            return  # a success that pybreaker would record as "nothing changed"
        try:
            with self._cb.calling():
                if exc is not None:
                    raise _Outcome(exc)
        except _Outcome:
            pass
        except pybreaker.CircuitBreakerError:
            pass  # unreachable: same generation means not open; never mask the call's result
        self._clean = self._state == "closed" and self._cb.fail_counter == 0

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call()`` under the breaker and return its result or raise its error.

        Raises ``CircuitOpenError`` without calling ``call`` when the breaker is open or
        all half-open trial slots are taken; such a call was never sent, so it may be
        retried elsewhere. The call's own exceptions propagate unchanged.
        """
        admitted = self.admit()
        try:
            result = await call()
        except BaseException as exc:
            self.settle(admitted, exc)
            raise
        self.settle(admitted, None)
        return result

    def __repr__(self) -> str:
        return f"EndpointBreaker({self.endpoint!r}, state={self.state!r})"


@dataclass(frozen=True, slots=True)
class OutlierConfig:
    """Outlier detection settings (names after Envoy's consecutive-5xx detection).

    ``consecutive_failures`` failures in a row eject an endpoint for
    ``base_ejection_time_s * times_ejected``, capped at
    ``max(base_ejection_time_s, max_ejection_time_s)``. ``times_ejected`` goes down by one
    for every ``decay_interval_s`` an endpoint stays in rotation. At most
    ``max_ejection_percent`` of the endpoints are ejected at once (rounded down: with 3
    endpoints and 50%, one).
    """

    consecutive_failures: int = 5
    base_ejection_time_s: float = 30.0
    max_ejection_time_s: float = 300.0
    max_ejection_percent: float = 50.0
    decay_interval_s: float = 10.0

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ConfigError("consecutive_failures must be >= 1")
        if self.base_ejection_time_s <= 0 or self.decay_interval_s <= 0:
            raise ConfigError("base_ejection_time_s and decay_interval_s must be > 0")
        if not 0 <= self.max_ejection_percent <= 100:
            raise ConfigError("max_ejection_percent must be within [0, 100]")


@dataclass(slots=True)
class _Host:
    consecutive: int = 0
    times_ejected: int = 0
    ejected_until: float | None = None
    decay_from: float = 0.0  # when times_ejected last started decaying


class OutlierDetector:
    """Consecutive-failure ejection for one service's endpoints. Pure; clock injected.

    Feed it every call outcome with ``record(key, ok)`` (``ok`` is False exactly when the
    breaker predicate would count the error, e.g. ``is_endpoint_failure``), keep it told
    of the current endpoint set with ``set_endpoints``, and skip ``ejected()`` endpoints
    when picking (``admitted`` does that). Results recorded for an ejected endpoint (calls
    that were in flight when it was ejected) are ignored.
    """

    def __init__(self, config: OutlierConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or OutlierConfig()
        self._clock = clock or SystemClock()
        self._hosts: dict[str, _Host] = {}

    def set_endpoints(self, keys: Iterable[str]) -> None:
        """Replace the endpoint set; state of endpoints that left is forgotten."""
        keys = set(keys)
        self._hosts = {k: self._hosts.get(k) or _Host() for k in keys}

    def _refresh(self, now: float) -> None:
        interval = self.config.decay_interval_s
        for h in self._hosts.values():
            if h.ejected_until is not None and now >= h.ejected_until:
                # Decay counts from the actual return time, however late we look.
                h.decay_from = h.ejected_until
                h.ejected_until = None
                h.consecutive = 0
            if h.ejected_until is None and h.times_ejected > 0:
                steps = math.floor((now - h.decay_from) / interval)
                if steps > 0:
                    h.times_ejected = max(0, h.times_ejected - steps)
                    h.decay_from += steps * interval

    def _may_eject_one_more(self) -> bool:
        ejected = sum(1 for h in self._hosts.values() if h.ejected_until is not None)
        return (ejected + 1) * 100 <= self.config.max_ejection_percent * len(self._hosts)

    def record(self, key: str, ok: bool) -> bool:
        """Record one call outcome; return True if it ejected ``key`` just now.

        An unknown ``key`` is added to the endpoint set.
        """
        h = self._hosts.get(key)
        if ok and h is not None and h.ejected_until is None:
            # Hot path, no clock read: a success of an endpoint in rotation only resets its
            # count. Skipping _refresh here is safe because it is lazy by design: it derives
            # returns and decay from stored times, so doing it at the next look is the same.
            h.consecutive = 0
            return False
        now = self._clock.now()
        self._refresh(now)
        if h is None:
            h = self._hosts[key] = _Host()
        if h.ejected_until is not None:
            return False
        if ok:
            h.consecutive = 0
            return False
        h.consecutive += 1
        if h.consecutive < self.config.consecutive_failures or not self._may_eject_one_more():
            # Over the cap the count keeps growing: the endpoint is ejected on its next
            # failure once another one has come back.
            return False
        cfg = self.config
        h.times_ejected += 1
        cap = max(cfg.base_ejection_time_s, cfg.max_ejection_time_s)
        h.ejected_until = now + min(cfg.base_ejection_time_s * h.times_ejected, cap)
        h.consecutive = 0
        return True

    def ejected(self) -> frozenset[str]:
        """Keys of the endpoints ejected right now."""
        self._refresh(self._clock.now())
        return frozenset(k for k, h in self._hosts.items() if h.ejected_until is not None)

    def next_return_at(self) -> float | None:
        """Clock time at which the first ejected endpoint returns, or None if none is out.

        Until then ``ejected()`` cannot shrink by itself, so callers may cache it.
        """
        self._refresh(self._clock.now())
        times = [h.ejected_until for h in self._hosts.values() if h.ejected_until is not None]
        return min(times) if times else None

    def is_ejected(self, key: str) -> bool:
        return key in self.ejected()

    def ejected_until(self, key: str) -> float | None:
        """Clock time at which ``key`` returns to rotation, or None if it is not ejected."""
        self._refresh(self._clock.now())
        h = self._hosts.get(key)
        return None if h is None else h.ejected_until

    def admitted(self, endpoints: Sequence[Endpoint]) -> list[Endpoint]:
        """``endpoints`` without the ejected ones, in the same order."""
        out = self.ejected()
        return [e for e in endpoints if e.key not in out]
