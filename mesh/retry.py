"""Retry, retry budget and hedging decisions. Pure: no I/O, randomness passed in.

* ``RetryPolicy`` answers "may this failed attempt be tried again, and after how long?".
  A call that reached the server is retried only if its method is idempotent
  (``idempotency_level`` IDEMPOTENT or NO_SIDE_EFFECTS, see ``is_idempotent``): retrying a
  non-idempotent call could, say, send a crisis alert twice. A call that never left the
  client (UNAVAILABLE before any byte was sent, or rejected by an open breaker) can always
  be retried.
* ``RetryBudget`` stops retry storms: when an endpoint set is failing, retries are
  allowed only up to a fraction of the requests in flight, so a client under failure
  sends at most ``1 + budget`` times its normal load instead of ``max_attempts`` times.
* ``HedgingPolicy`` decides when an idempotent unary call gets a parallel copy sent to
  another endpoint because the first one is slow.

Attempts are numbered from 1 (the original call).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor, descriptor_pb2

from mesh.errors import ConfigError

__all__ = [
    "DEFAULT_RETRYABLE_CODES",
    "HedgingPolicy",
    "RetryBudget",
    "RetryPolicy",
    "is_idempotent",
]

DEFAULT_RETRYABLE_CODES: frozenset[grpc.StatusCode] = frozenset({grpc.StatusCode.UNAVAILABLE})
"""Codes retried (for idempotent methods) unless a policy says otherwise. Deliberately
narrow: DEADLINE_EXCEEDED usually means the caller's budget is spent, RESOURCE_EXHAUSTED
means "back off", and retrying either amplifies the overload it reports."""

_IDEMPOTENT_LEVELS = frozenset(
    {
        descriptor_pb2.MethodOptions.IDEMPOTENT,
        descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    }
)


def is_idempotent(method: descriptor.MethodDescriptor) -> bool:
    """True if the proto method declares ``idempotency_level`` IDEMPOTENT or NO_SIDE_EFFECTS.

    Streaming methods are never treated as idempotent here: a stream that has delivered
    messages cannot be replayed transparently.
    """
    if method.client_streaming or method.server_streaming:
        return False
    return method.GetOptions().idempotency_level in _IDEMPOTENT_LEVELS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to retry a failed attempt and how long to wait first.

    ``max_attempts`` counts the original call (3 = the call and two retries). Backoff
    before retry ``n`` (``n`` = attempts made so far) is drawn uniformly from
    ``[0, min(max_backoff_s, initial_backoff_s * multiplier ** (n - 1))]`` ("full
    jitter"), so clients that failed together do not retry together.
    """

    max_attempts: int = 3
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    multiplier: float = 2.0
    retryable_codes: frozenset[grpc.StatusCode] = field(default=DEFAULT_RETRYABLE_CODES)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be >= 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0 or self.multiplier < 1:
            raise ConfigError("backoffs must be >= 0 and multiplier >= 1")

    def should_retry(
        self, attempt: int, code: grpc.StatusCode, idempotent: bool, sent: bool
    ) -> bool:
        """May the call be tried again after attempt number ``attempt`` failed with ``code``?

        ``sent`` is False when the request provably never reached the server: the transport
        failed before any byte went out (gRPC reports UNAVAILABLE), or the mesh itself
        refused it (open breaker). Such a failure is retried whatever the method; otherwise
        the method must be ``idempotent`` and ``code`` retryable. Never more than
        ``max_attempts`` attempts in all.
        """
        if attempt >= self.max_attempts:
            return False
        if not sent and code == grpc.StatusCode.UNAVAILABLE:
            return True
        return idempotent and code in self.retryable_codes

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before the attempt that follows attempt number ``attempt``."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        # Cap the exponent so a large attempt number cannot overflow the float.
        exp = min(attempt - 1, 64)
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**exp)
        return rng.uniform(0.0, ceiling)


class RetryBudget:
    """A retry budget shared by all calls to one service (as Envoy's retry budgets).

    A retry may start only while ``active_retries < max(min_retry_concurrency,
    floor(budget_percent / 100 * active_requests))``. Bracket every logical call with
    ``request_started``/``request_finished`` and every retry (or hedge) with a successful
    ``try_acquire_retry``/``retry_finished``. Not thread-safe: one event loop.
    """

    def __init__(self, *, budget_percent: float = 20.0, min_retry_concurrency: int = 3) -> None:
        if not 0 <= budget_percent <= 100 or min_retry_concurrency < 0:
            raise ConfigError("budget_percent in [0, 100], min_retry_concurrency >= 0")
        self.budget_percent = budget_percent
        self.min_retry_concurrency = min_retry_concurrency
        self._active_requests = 0
        self._active_retries = 0

    @property
    def active_requests(self) -> int:
        return self._active_requests

    @property
    def active_retries(self) -> int:
        return self._active_retries

    def limit(self) -> int:
        """How many retries may be in flight right now."""
        # The epsilon keeps 20% of 100 at 20 despite binary floating point.
        share = math.floor(self.budget_percent * self._active_requests / 100 + 1e-9)
        return max(self.min_retry_concurrency, share)

    def request_started(self) -> None:
        self._active_requests += 1

    def request_finished(self) -> None:
        self._active_requests = max(0, self._active_requests - 1)

    def try_acquire_retry(self) -> bool:
        """Reserve room for one retry; False (and nothing reserved) if the budget is spent."""
        if self._active_retries >= self.limit():
            return False
        self._active_retries += 1
        return True

    def retry_finished(self) -> None:
        """Release a retry reserved by a successful ``try_acquire_retry``."""
        self._active_retries = max(0, self._active_retries - 1)


@dataclass(frozen=True, slots=True)
class HedgingPolicy:
    """Hedged requests for idempotent unary calls.

    The original attempt is sent at once; while no attempt has succeeded, another copy
    (to a different endpoint, the caller's job) is sent every ``delay_s`` after the previous
    one, up to ``max_hedges`` extra copies. An attempt failing with a code in
    ``non_fatal_codes`` sends the next hedge at once instead of waiting; any other failure
    code is fatal and ends the call with that error. The first success wins and the other
    attempts are cancelled. Every hedge should also take a slot of the ``RetryBudget``.
    """

    delay_s: float = 0.1
    max_hedges: int = 1
    non_fatal_codes: frozenset[grpc.StatusCode] = field(default=DEFAULT_RETRYABLE_CODES)

    def __post_init__(self) -> None:
        if self.delay_s < 0 or self.max_hedges < 0:
            raise ConfigError("delay_s and max_hedges must be >= 0")

    @staticmethod
    def applies_to(idempotent: bool, unary: bool = True) -> bool:
        """Hedging sends a call more than once: only for idempotent unary calls."""
        return idempotent and unary

    def next_hedge_at(self, last_sent_at: float, hedges_sent: int) -> float | None:
        """Clock time of the next hedge, or None when all ``max_hedges`` are sent."""
        if hedges_sent >= self.max_hedges:
            return None
        return last_sent_at + self.delay_s

    def should_send_hedge(
        self,
        now: float,
        last_sent_at: float,
        hedges_sent: int,
        *,
        failed_code: grpc.StatusCode | None = None,
    ) -> bool:
        """Is a hedge due at ``now``? ``failed_code``: an attempt just failed with it."""
        due = self.next_hedge_at(last_sent_at, hedges_sent)
        if due is None:
            return False
        if failed_code is not None:
            return not self.is_fatal(failed_code)
        return now >= due

    def is_fatal(self, code: grpc.StatusCode) -> bool:
        """Does a failure with ``code`` end the whole hedged call?"""
        return code not in self.non_fatal_codes
