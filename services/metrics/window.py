"""Aggregation windows over cumulative samples: pure, clock injected.

Instances report running totals since they started (requests, errors, histogram
bucket counts). A rate over a window is the difference between the newest sample
and the oldest one inside the window, divided by the time between them. A new
``started_at`` means the instance restarted: its history starts over, so a
counter reset never shows up as a negative rate.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One report from one instance (cumulative values)."""

    service: str
    instance_id: str
    started_at: float
    requests: int
    errors: int
    active_streams: int = 0
    bounds_ms: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()
    """One count per bound plus the overflow bucket, cumulative over time (not over buckets)."""
    breakers: tuple[tuple[str, str, str], ...] = ()
    """(endpoint, state, instance_id) as the reporting instance's client sees them."""

    def validate(self) -> str | None:
        """A reason to reject the sample, or None."""
        if not self.service or not self.instance_id:
            return "service and instance_id are required"
        if self.bucket_counts and len(self.bucket_counts) != len(self.bounds_ms) + 1:
            return "latency.counts needs one count per bound plus one overflow count"
        if list(self.bounds_ms) != sorted(set(self.bounds_ms)):
            return "latency.upper_bounds_ms must be strictly increasing"
        if self.errors > self.requests:
            return "errors cannot exceed requests"
        return None


@dataclass(frozen=True, kw_only=True)
class ServiceView:
    service: str
    instances: int
    request_rate: float
    error_rate: float
    p50_ms: float
    p99_ms: float
    active_streams: int
    breakers: tuple[tuple[str, str, str], ...]


@dataclass
class _History:
    started_at: float
    points: deque[tuple[float, Sample]] = field(default_factory=deque)


def quantile_ms(bounds: Sequence[float], counts: Sequence[int], q: float) -> float:
    """The q-quantile of a bucketed distribution, interpolated inside its bucket."""
    total = sum(counts)
    if total <= 0 or not bounds:
        return 0.0
    rank = q * total
    seen = 0.0
    lower = 0.0
    for i, count in enumerate(counts):
        upper = bounds[i] if i < len(bounds) else bounds[-1]
        if count and seen + count >= rank:
            return lower + (upper - lower) * ((rank - seen) / count)
        seen += count
        lower = upper
    return bounds[-1]


class Aggregator:
    """Keeps recent samples per instance and answers windowed questions about services."""

    def __init__(self, *, retention_s: float = 300.0, stale_after_s: float = 30.0) -> None:
        self._retention = retention_s
        self._stale_after = stale_after_s
        self._instances: dict[tuple[str, str], _History] = {}

    def ingest(self, sample: Sample, now: float) -> None:
        key = (sample.service, sample.instance_id)
        history = self._instances.get(key)
        if history is None or history.started_at != sample.started_at:
            history = self._instances[key] = _History(sample.started_at)
        history.points.append((now, sample))
        while history.points and history.points[0][0] < now - self._retention:
            history.points.popleft()

    def services(self) -> list[str]:
        return sorted({service for service, _ in self._instances})

    def view(self, services: Iterable[str], window_s: float, now: float) -> list[ServiceView]:
        wanted = set(services) or set(self.services())
        self._forget_stale(now)
        by_service: dict[str, list[_History]] = {}
        for (service, _), history in self._instances.items():
            if service in wanted:
                by_service.setdefault(service, []).append(history)
        return [
            self._service_view(name, hs, window_s, now) for name, hs in sorted(by_service.items())
        ]

    def _forget_stale(self, now: float) -> None:
        stale = [k for k, h in self._instances.items() if h.points[-1][0] < now - self._stale_after]
        for key in stale:
            del self._instances[key]

    def _service_view(
        self, service: str, histories: list[_History], window_s: float, now: float
    ) -> ServiceView:
        requests = errors = 0.0
        elapsed = 0.0
        merged: list[int] = []
        bounds: tuple[float, ...] = ()
        streams = 0
        breakers: list[tuple[str, str, str]] = []
        for history in histories:
            newest_at, newest = history.points[-1]
            inside = [(t, s) for t, s in history.points if t >= now - window_s]
            oldest_at, oldest = inside[0] if len(inside) > 1 else (newest_at, newest)
            requests += newest.requests - oldest.requests
            errors += newest.errors - oldest.errors
            elapsed = max(elapsed, newest_at - oldest_at)
            streams += newest.active_streams
            breakers.extend(newest.breakers)
            if newest.bounds_ms and newest.bounds_ms == oldest.bounds_ms:
                deltas = [
                    a - b for a, b in zip(newest.bucket_counts, oldest.bucket_counts, strict=True)
                ]
                if not bounds:
                    bounds, merged = newest.bounds_ms, deltas
                elif bounds == newest.bounds_ms:
                    merged = [a + b for a, b in zip(merged, deltas, strict=True)]
        return ServiceView(
            service=service,
            instances=len(histories),
            request_rate=requests / elapsed if elapsed > 0 else 0.0,
            error_rate=errors / requests if requests > 0 else 0.0,
            p50_ms=quantile_ms(bounds, merged, 0.50),
            p99_ms=quantile_ms(bounds, merged, 0.99),
            active_streams=streams,
            breakers=tuple(sorted(breakers)),
        )


class Latest:
    """A one-slot mailbox: a slow reader gets the newest value, never a backlog."""

    def __init__(self) -> None:
        import asyncio

        self._value: object | None = None
        self._ready = asyncio.Event()
        self.replaced = 0
        """How many values were overwritten before anyone read them."""

    def put(self, value: object) -> None:
        if self._ready.is_set():
            self.replaced += 1
        self._value = value
        self._ready.set()

    async def get(self) -> object:
        await self._ready.wait()
        self._ready.clear()
        value, self._value = self._value, None
        return value
