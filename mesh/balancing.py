"""Client-side load balancing: which endpoint gets the next call.

Pure decision logic: no sockets, no asyncio. Time comes from an injected ``Clock`` and
randomness from an injected ``random.Random``, so every policy is reproducible in tests.

Contract shared by every picker (``Picker`` protocol):

* ``pick(endpoints, hash_key=None)`` chooses one of ``endpoints`` (which may differ from
  one call to the next as discovery changes; pickers key their state by ``Endpoint.key``
  and forget endpoints that disappear). It raises ``NoEndpointsError`` on an empty list.
  Picking does *not* count as starting a call.
* ``on_start(endpoint)`` is called when a call (or a retry or hedge) is actually sent to
  the endpoint, and ``on_finish(endpoint, latency_s, ok)`` exactly once when it ends,
  whatever the outcome (cancelled calls included: pass ``ok=False``). Load-aware pickers
  count in-flight calls from these; the others ignore them.
* Pickers are not thread-safe; one event loop drives them.

Policies: ``RoundRobin``, ``WeightedRoundRobin`` (smooth, as nginx's), ``LeastRequest``
(power of two choices over in-flight counts), ``EwmaLatency`` (peak-EWMA cost, as in
Finagle/Linkerd) and ``RingHash`` (consistent hashing for affinity). ``make_picker(name)``
builds one by its configuration name.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mesh.clock import Clock, SystemClock
from mesh.errors import ConfigError, NoEndpointsError

__all__ = [
    "PICKER_NAMES",
    "Endpoint",
    "EwmaLatency",
    "LeastRequest",
    "Picker",
    "RingHash",
    "RoundRobin",
    "WeightedRoundRobin",
    "make_picker",
]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One instance of a service as the balancer sees it.

    ``key`` identifies the instance (its registry instance id) and is what pickers key
    their state by: an instance that changes address but keeps its key keeps its load
    history and its ring-hash affinity. ``weight`` is a relative share (>= 0; 0 means
    "only if nothing else is available" for weighted policies).
    """

    key: str
    address: str
    weight: int = 1
    zone: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ConfigError("an endpoint needs a non-empty key")
        if self.weight < 0:
            raise ConfigError(f"endpoint {self.key!r}: weight must be >= 0, got {self.weight}")


@runtime_checkable
class Picker(Protocol):
    """The interface every balancing policy implements (see the module docstring)."""

    def pick(self, endpoints: Sequence[Endpoint], *, hash_key: str | None = None) -> Endpoint:
        """Choose one endpoint; raise ``NoEndpointsError`` if ``endpoints`` is empty."""
        ...

    def on_start(self, endpoint: Endpoint) -> None:
        """A call to ``endpoint`` was sent."""
        ...

    def on_finish(self, endpoint: Endpoint, latency_s: float, ok: bool) -> None:
        """A call started with ``on_start`` ended after ``latency_s`` seconds."""
        ...


def _require(endpoints: Sequence[Endpoint]) -> None:
    if not endpoints:
        raise NoEndpointsError()


class _InFlight:
    """In-flight call counts per endpoint key; keys at zero are dropped (no leak on churn)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def in_flight(self, key: str) -> int:
        """Calls started and not yet finished on the endpoint ``key``."""
        return self._counts.get(key, 0)

    def on_start(self, endpoint: Endpoint) -> None:
        self._counts[endpoint.key] = self._counts.get(endpoint.key, 0) + 1

    def on_finish(self, endpoint: Endpoint, latency_s: float, ok: bool) -> None:
        n = self._counts.get(endpoint.key, 0) - 1
        # A finish without a start (caller bug, or a start recorded before a reset) must
        # not drive the count negative and make the endpoint look better than idle.
        if n > 0:
            self._counts[endpoint.key] = n
        else:
            self._counts.pop(endpoint.key, None)


class RoundRobin(_InFlight):
    """Each endpoint in turn, in list order.

    ``start`` offsets the first pick; production code passes a random start so that many
    clients booting together do not all hit the first endpoint first.
    """

    def __init__(self, *, start: int = 0) -> None:
        super().__init__()
        self._next = start

    def pick(self, endpoints: Sequence[Endpoint], *, hash_key: str | None = None) -> Endpoint:
        _require(endpoints)
        chosen = endpoints[self._next % len(endpoints)]
        self._next = (self._next + 1) % (1 << 62)
        return chosen


class WeightedRoundRobin(_InFlight):
    """Smooth weighted round robin (the algorithm of nginx's upstream module).

    Every pick adds each endpoint's weight to its running score, picks the highest score
    (first in list order on ties) and subtracts the total weight from the winner. Over any
    window of ``sum(weights)`` picks each endpoint gets exactly its weight, and picks of a
    heavy endpoint are interleaved rather than bunched. Deterministic.

    Endpoints of weight 0 are skipped unless every endpoint has weight 0, in which case all
    are treated as weight 1.
    """

    def __init__(self) -> None:
        super().__init__()
        self._score: dict[str, int] = {}

    def pick(self, endpoints: Sequence[Endpoint], *, hash_key: str | None = None) -> Endpoint:
        _require(endpoints)
        uniform = all(e.weight == 0 for e in endpoints)
        total = 0
        best: Endpoint | None = None
        best_score = 0
        score = self._score
        live: set[str] = set()
        for e in endpoints:
            w = 1 if uniform else e.weight
            if w == 0:
                continue
            live.add(e.key)
            s = score.get(e.key, 0) + w
            score[e.key] = s
            total += w
            if best is None or s > best_score:
                best, best_score = e, s
        assert best is not None  # at least one endpoint has a positive (effective) weight
        score[best.key] -= total
        if len(score) > len(live):
            # Forget endpoints that left, so a returning one starts from a fair score.
            for k in [k for k in score if k not in live]:
                del score[k]
        return best


class LeastRequest(_InFlight):
    """Power of two random choices over in-flight counts.

    Two distinct endpoints are sampled at random and the one with the lower
    ``(in_flight + 1) / weight`` wins (ties go to the first sampled, itself random). This
    avoids both the herd behaviour of a global "least loaded" and the blindness of random.
    Endpoints of weight 0 count as weight 1 here: the weight is only a bias.
    """

    def __init__(self, *, rng: random.Random | None = None) -> None:
        super().__init__()
        self._rng = rng or random.Random()

    def _load(self, e: Endpoint) -> float:
        return (self.in_flight(e.key) + 1) / max(e.weight, 1)

    def pick(self, endpoints: Sequence[Endpoint], *, hash_key: str | None = None) -> Endpoint:
        _require(endpoints)
        if len(endpoints) == 1:
            return endpoints[0]
        a, b = self._rng.sample(range(len(endpoints)), 2)
        ea, eb = endpoints[a], endpoints[b]
        return eb if self._load(eb) < self._load(ea) else ea


@dataclass(slots=True)
class _Ewma:
    value: float  # seconds
    stamp: float  # clock.now() of the last update
    measured: bool = False  # False while value is only the prior


class EwmaLatency(_InFlight):
    """Peak-EWMA: prefer the endpoint with the lowest ``ewma_latency * (in_flight + 1)``.

    * A latency above the current average replaces it at once (peak sensitivity: one slow
      response is enough to steer away); lower ones are blended in with weight
      ``1 - exp(-elapsed / decay_s)``, so the average is a time-weighted one, not a
      per-sample one.
    * When read, the average decays towards zero with the time since its last update, so
      an endpoint that was avoided because it was slow gets probed again after a while
      instead of being starved forever.
    * A failed call counts as at least ``failure_penalty_s``: an endpoint that fails fast
      must not look like the fastest one.
    * An endpoint never seen before gets a neutral prior: the mean of the known
      endpoints' current averages, or ``default_rtt_s`` when none is known.

    Selection is power of two choices over this cost (as Linkerd does), with ``rng``.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        decay_s: float = 10.0,
        default_rtt_s: float = 0.05,
        failure_penalty_s: float = 1.0,
    ) -> None:
        super().__init__()
        if decay_s <= 0 or default_rtt_s <= 0 or failure_penalty_s < 0:
            raise ConfigError("decay_s and default_rtt_s must be > 0, failure_penalty_s >= 0")
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._decay_s = decay_s
        self._default_rtt_s = default_rtt_s
        self._failure_penalty_s = failure_penalty_s
        self._stats: dict[str, _Ewma] = {}

    def _decayed(self, st: _Ewma, now: float) -> float:
        return st.value * math.exp(-max(now - st.stamp, 0.0) / self._decay_s)

    def _prior(self, now: float) -> float:
        known = [self._decayed(s, now) for s in self._stats.values() if s.measured]
        return sum(known) / len(known) if known else self._default_rtt_s

    def _stat(self, key: str, now: float) -> _Ewma:
        st = self._stats.get(key)
        if st is None:
            st = self._stats[key] = _Ewma(self._prior(now), now)
        return st

    def latency_estimate(self, endpoint: Endpoint) -> float:
        """The endpoint's current (decayed) latency average in seconds, prior if unknown."""
        now = self._clock.now()
        st = self._stats.get(endpoint.key)
        return self._prior(now) if st is None else self._decayed(st, now)

    def cost(self, endpoint: Endpoint) -> float:
        """``latency_estimate * (in_flight + 1)``: lower is better."""
        return self.latency_estimate(endpoint) * (self.in_flight(endpoint.key) + 1)

    def pick(self, endpoints: Sequence[Endpoint], *, hash_key: str | None = None) -> Endpoint:
        _require(endpoints)
        now = self._clock.now()
        if len(self._stats) > 2 * len(endpoints) + 16:
            live = {e.key for e in endpoints}
            self._stats = {k: v for k, v in self._stats.items() if k in live}
        if len(endpoints) == 1:
            return endpoints[0]
        a, b = self._rng.sample(range(len(endpoints)), 2)
        ea, eb = endpoints[a], endpoints[b]
        # Pin priors for new endpoints now, so both candidates are judged at the same time.
        self._stat(ea.key, now)
        self._stat(eb.key, now)
        return eb if self.cost(eb) < self.cost(ea) else ea

    def on_finish(self, endpoint: Endpoint, latency_s: float, ok: bool) -> None:
        super().on_finish(endpoint, latency_s, ok)
        now = self._clock.now()
        rtt = max(latency_s, 0.0) if ok else max(latency_s, self._failure_penalty_s)
        st = self._stat(endpoint.key, now)
        current = self._decayed(st, now)
        if not st.measured or rtt > current:
            # The first measurement replaces the prior outright: the prior only stands in
            # for knowledge, it must not outweigh it.
            st.measured = True
            st.value = rtt
        else:
            # Continuous-time EWMA: the stored value's weight is what time left of it.
            w = math.exp(-max(now - st.stamp, 0.0) / self._decay_s)
            st.value = st.value * w + rtt * (1.0 - w)
        st.stamp = now


def _hash64(text: str) -> int:
    # blake2b rather than hash(): stable across processes, so every client of a service
    # maps a given key to the same endpoint.
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class RingHash(_InFlight):
    """Consistent hashing on a ring of virtual nodes, for session affinity.

    Each endpoint owns ``vnodes_per_weight * weight / g`` points on a 64-bit ring (hashed
    from its key), ``g`` being the greatest common divisor of the weights (so weights
    100/100/100, the registry's default, cost 100 points each, not 10,000); weight 0
    counts as the smallest weight. A ``hash_key`` goes to the owner of the first point at
    or after its own hash. So the same ``hash_key`` reaches the same endpoint as long as
    that endpoint is in the list, and removing an endpoint moves only the keys it owned
    (adding one moves only the keys it takes over), exactly so while the weights' ratios
    stay put. Every client computes the same ring. The ring is capped at ``max_points``
    points (weights are then scaled down proportionally).

    Without a ``hash_key`` the call has no affinity and goes to ``fallback`` (round robin
    by default). The ring is rebuilt only when the endpoint set (keys and weights) changes.
    """

    def __init__(
        self,
        *,
        vnodes_per_weight: int = 100,
        max_points: int = 200_000,
        fallback: Picker | None = None,
    ) -> None:
        super().__init__()
        if vnodes_per_weight < 1 or max_points < 1:
            raise ConfigError("vnodes_per_weight and max_points must be >= 1")
        self._vnodes = vnodes_per_weight
        self._max_points = max_points
        self._fallback: Picker = fallback or RoundRobin()
        self._ring_id: tuple[tuple[str, int], ...] | None = None
        self._points: list[int] = []
        self._owners: list[str] = []

    def _build(self, ident: tuple[tuple[str, int], ...]) -> None:
        positive = [w for _, w in ident if w > 0] or [1]
        unit = math.gcd(*positive)
        smallest = min(positive)
        counts = {k: self._vnodes * (w if w > 0 else smallest) // unit for k, w in ident}
        total = sum(counts.values())
        if total > self._max_points:
            counts = {k: max(1, c * self._max_points // total) for k, c in counts.items()}
        ring: list[tuple[int, str]] = []
        for key, n in counts.items():
            # Point i of a key never depends on the other endpoints: that is what keeps
            # keys in place when the set changes.
            ring.extend((_hash64(f"{key}#{i}"), key) for i in range(n))
        # Sorting on (point, key) makes collisions resolve the same way on every client.
        ring.sort()
        self._points = [p for p, _ in ring]
        self._owners = [k for _, k in ring]
        self._ring_id = ident

    def pick(self, endpoints: Sequence[Endpoint], *, hash_key: str | None = None) -> Endpoint:
        _require(endpoints)
        if hash_key is None:
            return self._fallback.pick(endpoints)
        ident = tuple(sorted((e.key, e.weight) for e in endpoints))
        if ident != self._ring_id:
            self._build(ident)
        i = bisect.bisect_left(self._points, _hash64(hash_key))
        owner = self._owners[i % len(self._owners)]
        for e in endpoints:
            if e.key == owner:
                return e
        raise AssertionError("ring owner not among endpoints")  # ring was built from them

    def on_start(self, endpoint: Endpoint) -> None:
        super().on_start(endpoint)
        self._fallback.on_start(endpoint)

    def on_finish(self, endpoint: Endpoint, latency_s: float, ok: bool) -> None:
        super().on_finish(endpoint, latency_s, ok)
        self._fallback.on_finish(endpoint, latency_s, ok)


_FACTORIES: dict[str, Callable[[Clock | None, random.Random | None], Picker]] = {
    "round_robin": lambda clock, rng: RoundRobin(start=rng.randrange(1 << 16) if rng else 0),
    "weighted_round_robin": lambda clock, rng: WeightedRoundRobin(),
    "least_request": lambda clock, rng: LeastRequest(rng=rng),
    "ewma": lambda clock, rng: EwmaLatency(clock=clock, rng=rng),
    "ring_hash": lambda clock, rng: RingHash(),
}

PICKER_NAMES: tuple[str, ...] = tuple(_FACTORIES)
"""The policy names ``make_picker`` accepts."""


def make_picker(
    name: str, *, clock: Clock | None = None, rng: random.Random | None = None
) -> Picker:
    """Build the picker configured as ``name`` (one of ``PICKER_NAMES``).

    ``clock`` and ``rng`` are passed to the policies that use them; ``rng`` also randomises
    the round-robin start. Raises ``ConfigError`` for an unknown name.
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown balancing policy {name!r}; expected one of {', '.join(PICKER_NAMES)}"
        ) from None
    return factory(clock, rng)
