"""Prometheus series of the gateway itself (the mesh client adds ``grpc_client_*``).

Defined once per process in the default registry, so several apps in one test process share
them. ``route`` is the matched template (``/v1/echo``) or a fixed name (``/health``,
``unmatched``), never the raw path, so the label set stays small.

The two per-request series (``lilo_gateway_http_requests_total`` and
``lilo_gateway_http_request_seconds``) are kept as plain numbers in ``RouteStats`` and turned
into series at scrape time by a collector, as ``mesh.telemetry`` does for ``grpc_client_*``:
a prometheus_client ``inc`` plus ``observe`` is a dozen Python calls and two locks per
request. The exposition is the same as those two metric objects would write.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client import metrics as _prometheus_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["RouteStats", "open_streams", "route_stats", "unexpected_errors"]

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LABELS = ("method", "route")


class RouteStats:
    """Requests answered for one (method, route): count per status and a latency histogram.

    Bumped on the event loop's thread; a scrape from another thread may see one request
    half-recorded, never a corrupt value.
    """

    __slots__ = ("buckets", "code_created", "codes", "created", "labels", "sum")

    def __init__(self, labels: tuple[str, str]) -> None:
        self.labels = labels
        self.created = time.time()
        self.codes: dict[int, int] = {}
        self.code_created: dict[int, float] = {}  # a counter series is born with its code
        self.buckets = [0] * (len(_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def record(self, status: int, seconds: float) -> None:
        count = self.codes.get(status)
        if count is None:
            self.code_created[status] = time.time()
            count = 0
        self.codes[status] = count + 1
        # The first bucket whose bound is >= seconds, as Histogram.observe picks it.
        self.buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.sum += seconds


class _HttpCollector(Collector):
    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], RouteStats] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "lilo_gateway_http_requests",
            "HTTP requests answered by the gateway.",
            labels=(*_LABELS, "code"),
        )
        seconds = HistogramMetricFamily(
            "lilo_gateway_http_request_seconds",
            "Time to the end of the HTTP response (streams: their whole life).",
            labels=_LABELS,
        )
        bounds = [repr(float(b)) for b in _BUCKETS] + ["+Inf"]  # as prometheus_client writes le
        # The _created series follow prometheus_client's switch (PROMETHEUS_DISABLE_CREATED_SERIES).
        with_created = bool(getattr(_prometheus_metrics, "_use_created", True))
        for st in list(self.stats.values()):
            for status, n in sorted(st.codes.items()):
                created = st.code_created.get(status, st.created) if with_created else None
                requests.add_metric((*st.labels, str(status)), n, created=created)
            cumulative, total = [], 0
            for bound, n in zip(bounds, list(st.buckets), strict=True):
                total += n
                cumulative.append((bound, float(total)))
            seconds.add_metric(st.labels, cumulative, st.sum)
            if with_created:
                labels = dict(zip(_LABELS, st.labels, strict=True))
                seconds.samples.append(Sample(seconds.name + "_created", labels, st.created))
        yield requests
        yield seconds


_http_collector = _HttpCollector()
REGISTRY.register(_http_collector)


def route_stats(method: str, route: str) -> RouteStats:
    """The stats of one (method, route) (shared by every app in the process)."""
    key = (method, route)
    st = _http_collector.stats.get(key)
    if st is None:
        st = _http_collector.stats[key] = RouteStats(key)
    return st


open_streams = Gauge(
    "lilo_gateway_open_streams",
    "Streams in progress, by kind (sse, ndjson, websocket).",
    ("kind",),
)
unexpected_errors = Counter(
    "lilo_gateway_unexpected_errors_total",
    "Requests that failed with an unexpected exception (answered 500 with a reference id).",
)
