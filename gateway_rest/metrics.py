"""Prometheus series of the gateway itself (the mesh client adds ``grpc_client_*``).

Defined once per process in the default registry, so several apps in one test process share
them. ``route`` is the matched template (``/v1/echo``) or a fixed name (``/health``,
``unmatched``), never the raw path, so the label set stays small.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

http_requests = Counter(
    "lilo_gateway_http_requests_total",
    "HTTP requests answered by the gateway.",
    ("method", "route", "code"),
)
http_seconds = Histogram(
    "lilo_gateway_http_request_seconds",
    "Time to the end of the HTTP response (streams: their whole life).",
    ("method", "route"),
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
open_streams = Gauge(
    "lilo_gateway_open_streams",
    "Streams in progress, by kind (sse, ndjson, websocket).",
    ("kind",),
)
unexpected_errors = Counter(
    "lilo_gateway_unexpected_errors_total",
    "Requests that failed with an unexpected exception (answered 500 with a reference id).",
)
