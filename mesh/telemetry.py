"""Metrics, traces and logs with the names operators already know.

Prometheus series follow go-grpc-prometheus (``grpc_server_handled_total``,
``grpc_server_handling_seconds``, client twins) plus ``lilo_mesh_*`` for the
mesh's own decisions. Server traces, and client traces of plain grpc.aio channels,
come from opentelemetry-instrumentation-grpc, which must instrument before any aio
server or channel is created (``instrument_grpc`` is called by ``MeshServer`` and
``MeshClient`` constructors). The mesh client's own channels skip that interceptor
(grpc.aio runs a client interceptor as an extra task per call and an extra queue per
streamed message) and make the same CLIENT spans with ``ClientSpans`` instead.
Logs are one JSON object per line with the trace and correlation ids of the call.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.propagators.textmap import Setter
from opentelemetry.trace.status import Status, StatusCode
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

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


class ClientCallStats:
    """The ``grpc_client_*`` series of one method, kept as plain numbers.

    A prometheus_client ``inc``/``observe`` is several Python calls and a lock each; the
    mesh client makes three per call. Here the call path bumps ints on the event loop's
    thread and the scrape builds the same series (``_ClientCollector``). A scrape from
    another thread may see one call half-recorded, never a corrupt value.
    """

    __slots__ = ("buckets", "created", "errors", "labels", "ok", "started", "sum")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.created = time.time()
        self.started = 0
        self.ok = 0  # OK is by far the common code: no dict (or enum hash) for it
        self.errors: dict[grpc.StatusCode, int] = {}
        self.buckets = [0] * (len(_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def finished(self, code: grpc.StatusCode, seconds: float) -> None:
        if code is grpc.StatusCode.OK:
            self.ok += 1
        else:
            self.errors[code] = self.errors.get(code, 0) + 1
        self.buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.sum += seconds


class _ClientCollector(Collector):
    def __init__(self) -> None:
        self.stats: dict[tuple[str, str, str], ClientCallStats] = {}

    def collect(self) -> Iterator[Metric]:
        started = CounterMetricFamily(
            "grpc_client_started", "RPCs started by the client.", labels=_LABELS
        )
        handled = CounterMetricFamily(
            "grpc_client_handled", "RPCs completed by the client.", labels=(*_LABELS, "grpc_code")
        )
        seconds = HistogramMetricFamily(
            "grpc_client_handling_seconds", "Client-observed RPC time.", labels=_LABELS
        )
        bounds = [repr(float(b)) for b in _BUCKETS] + ["+Inf"]  # as prometheus_client writes le
        for st in list(self.stats.values()):
            started.add_metric(st.labels, st.started, created=st.created)
            codes = [("OK", st.ok)] if st.ok else []
            codes += [(code.name, n) for code, n in list(st.errors.items())]
            for name, n in codes:
                handled.add_metric((*st.labels, name), n, created=st.created)
            cumulative, total = [], 0
            for bound, n in zip(bounds, list(st.buckets), strict=True):
                total += n
                cumulative.append((bound, float(total)))
            seconds.add_metric(st.labels, cumulative, st.sum)
        yield started
        yield handled
        yield seconds


_client_collector = _ClientCollector()
REGISTRY.register(_client_collector)


def client_stats(grpc_type: str, service: str, method: str) -> ClientCallStats:
    """The stats of one client method (shared by every channel that calls it)."""
    key = (grpc_type, service, method)
    st = _client_collector.stats.get(key)
    if st is None:
        st = _client_collector.stats[key] = ClientCallStats(key)
    return st


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


_tracer = trace.get_tracer("mesh.client")  # a proxy: follows a provider set later


def _no_tracer_provider() -> bool:
    """True while no tracer provider is set (spans would be no-ops).

    ``trace.get_tracer_provider()`` reads ``os.environ`` on every call until a provider is
    set, which costs more than the rest of a span's bookkeeping; the API module's global
    says the same for free. Falls back to the public call if that global ever goes away.
    """
    provider = getattr(trace, "_TRACER_PROVIDER", _MISSING)
    if provider is _MISSING:
        return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return provider is None and not _PROVIDER_FROM_ENV


_MISSING = object()
# A provider named in the environment is loaded by the first get_tracer_provider().
_PROVIDER_FROM_ENV = bool(os.environ.get("OTEL_PYTHON_TRACER_PROVIDER"))


class _AppendSetter(Setter[list[tuple[str, Any]]]):
    """Lets the propagators write headers into a list of metadata pairs."""

    def set(self, carrier: list[tuple[str, Any]], key: str, value: str) -> None:
        carrier.append((key, value))


_APPEND = _AppendSetter()


def _excluded_services() -> frozenset[str]:
    """Services named in OTEL_PYTHON_GRPC_EXCLUDED_SERVICES (honoured as the OTel
    interceptor honours it)."""
    raw = os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES", "")
    return frozenset(s.strip() for s in raw.split(",") if s.strip())


class ClientSpans:
    """CLIENT spans for one method's outgoing attempts, named and attributed as the
    OpenTelemetry gRPC interceptor names them, with the trace context injected.

    Built once per method so nothing is parsed per call. With no tracer provider set,
    spans are non-recording and ``start`` costs a few attribute reads; the trace context
    of the call being handled is still propagated.
    """

    def __init__(self, path: str) -> None:
        service, _, method = path.lstrip("/").partition("/")
        self._name = path
        self._attributes = {
            "rpc.system": "grpc",
            "rpc.grpc.status_code": grpc.StatusCode.OK.value[0],
            "rpc.method": method,
            "rpc.service": service,
        }
        self.enabled = service not in _excluded_services()

    def start(
        self, metadata: list[tuple[str, Any]]
    ) -> tuple[trace.Span | None, list[tuple[str, Any]]]:
        """Start a span; return it and the metadata to send: ``metadata`` itself when
        there is nothing to add (so do not mutate it), else a copy plus the headers."""
        if not self.enabled:
            return None, metadata
        if not otel_context.get_current() and _no_tracer_provider():
            # No tracer provider configured and nothing in the OpenTelemetry context (no
            # parent span, no baggage): the span would be a no-op and nothing would be
            # injected. Skipping here saves ~20 Python calls per call.
            return None, metadata
        if not is_instrumentation_enabled():
            return None, metadata
        out = list(metadata)
        span = _tracer.start_span(
            self._name, kind=trace.SpanKind.CLIENT, attributes=self._attributes
        )
        if span.get_span_context().is_valid:
            propagate.inject(out, context=trace.set_span_in_context(span), setter=_APPEND)
        else:
            propagate.inject(out, setter=_APPEND)  # baggage, if any
        return span, out

    @staticmethod
    def end(
        span: trace.Span | None,
        code: grpc.StatusCode,
        details: str = "",
        exc: BaseException | None = None,
    ) -> None:
        """End a span started by ``start`` with the call's final status."""
        if span is None:
            return
        if span.is_recording() and code is not grpc.StatusCode.OK:
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            span.set_status(Status(StatusCode.ERROR, details or code.name))
            if exc is not None:
                span.record_exception(exc)
        span.end()


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
