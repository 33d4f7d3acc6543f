"""Metrics, traces and logs with the names operators already know.

Prometheus series follow go-grpc-prometheus (``grpc_server_handled_total``,
``grpc_server_handling_seconds``, client twins) plus ``lilo_mesh_*`` for the
mesh's own decisions. Traces come from opentelemetry-instrumentation-grpc, which
must instrument before any aio server or channel is created (``instrument_grpc``
is called by ``MeshServer`` and ``MeshClient`` constructors). Logs are one JSON
object per line with the trace and correlation ids of the call in flight.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from mesh import context

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LABELS = ("grpc_type", "grpc_service", "grpc_method")

server_started = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
server_handled = Counter(
    "grpc_server_handled_total", "RPCs completed on the server.", (*_LABELS, "grpc_code")
)
server_seconds = Histogram(
    "grpc_server_handling_seconds", "Server handling time.", _LABELS, buckets=_BUCKETS
)
client_started = Counter("grpc_client_started_total", "RPCs started by the client.", _LABELS)
client_handled = Counter(
    "grpc_client_handled_total", "RPCs completed by the client.", (*_LABELS, "grpc_code")
)
client_seconds = Histogram(
    "grpc_client_handling_seconds", "Client-observed RPC time.", _LABELS, buckets=_BUCKETS
)
mesh_endpoints = Gauge(
    "lilo_mesh_endpoints", "Endpoints a client can pick, by service.", ("service", "state")
)
mesh_breaker_state = Gauge(
    "lilo_mesh_breaker_state",
    "Circuit breaker state per endpoint (0 closed, 1 half-open, 2 open).",
    ("service", "endpoint"),
)
mesh_ejections = Counter(
    "lilo_mesh_outlier_ejections_total", "Outlier ejections.", ("service", "endpoint")
)
mesh_retries = Counter(
    "lilo_mesh_retries_total",
    "Retries sent, and retries the budget refused.",
    ("service", "outcome"),
)
mesh_hedges = Counter("lilo_mesh_hedges_total", "Hedged requests sent.", ("service",))
server_active_streams = Gauge(
    "lilo_mesh_active_streams", "Streaming RPCs in progress on this server.", ("grpc_service",)
)


def grpc_type(client_streaming: bool, server_streaming: bool) -> str:
    if client_streaming and server_streaming:
        return "bidi_stream"
    if client_streaming:
        return "client_stream"
    return "server_stream" if server_streaming else "unary"


_instrumented = False
_instrument_lock = threading.Lock()


def instrument_grpc() -> None:
    """Turn on OpenTelemetry for grpc.aio servers and channels, once per process."""
    global _instrumented
    with _instrument_lock:
        if _instrumented:
            return
        from opentelemetry.instrumentation.grpc import (
            GrpcAioInstrumentorClient,
            GrpcAioInstrumentorServer,
        )

        GrpcAioInstrumentorServer().instrument()
        GrpcAioInstrumentorClient().instrument()
        _instrumented = True


def current_trace_id() -> str:
    """The W3C trace id of the span in flight, or "" outside a trace."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace and correlation ids of the call."""

    def format(self, record: logging.LogRecord) -> str:
        call = context.current()
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace_id = current_trace_id()
        if trace_id:
            out["trace_id"] = trace_id
        if call is not None:
            out["method"] = call.method
            if call.correlation_id:
                out["correlation_id"] = call.correlation_id
        for key in ("service", "instance_id", "ref"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
