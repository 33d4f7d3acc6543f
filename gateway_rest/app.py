"""The REST gateway's Starlette app: HTTP/JSON, SSE, NDJSON and WebSocket in front of gRPC.

``create_app`` wires the pure core (routes, transcode, status, headers, openapi) to HTTP. One
catch-all handler serves every rpc that has a ``google.api.http`` rule; nothing is written per
rpc. Calls go through ``MeshClient.channel(service)`` (discovery, balancing, breakers), created
in the ASGI lifespan because grpc.aio objects belong to one event loop.

Request kinds (full rules in docs/gateway.md):

* unary rpc: JSON in, JSON out; gRPC status -> HTTP status, body ``google.rpc.Status``;
* server stream: ``Accept: text/event-stream`` -> SSE (``id:`` = resume cursor when the rpc
  declares one, ``Last-Event-ID`` resumes), else NDJSON; errors are in-band after the 200;
* client / bidi stream: a WebSocket on the rpc's path, one message per frame each way.

Between a gRPC stream and its client sits a ``StreamPump`` with a bounded queue: when the
client reads slowly the pump stops reading from gRPC (flow control reaches the server)
instead of buffering without bound.

Errors: ``GatewayError`` subclasses map through ``gateway_error_response``; ``AioRpcError``
through ``http_status``/``status_json``; anything else is logged and answered 500 with a
reference id, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2
from grpc import aio
from opentelemetry import context as otel_context
from opentelemetry import propagate
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway_rest import metrics
from gateway_rest.config import GatewayConfig
from gateway_rest.errors import GatewayError, MethodNotAllowed, TranscodeError
from gateway_rest.headers import (
    CORRELATION_HEADER,
    correlation_id,
    request_metadata,
    response_headers,
)
from gateway_rest.openapi import build_openapi
from gateway_rest.routes import Route as GrpcRoute
from gateway_rest.routes import RouteMatch, RouteTable
from gateway_rest.status import (
    gateway_error_response,
    http_status,
    parse_grpc_timeout,
    status_json,
    ws_close_code,
    ws_close_reason,
)
from gateway_rest.transcode import build_request, message_class, message_to_json, response_to_json
from mesh import telemetry
from mesh.background import stop_task
from mesh.client import ClientConfig, MeshClient
from mesh.policy import method_policy
from mesh.registry.base import Registry

__all__ = ["DEFAULT_DESCRIPTOR_SET", "Gateway", "StreamPump", "create_app"]

log = logging.getLogger("gateway_rest")

DEFAULT_DESCRIPTOR_SET = (
    Path(__file__).resolve().parent.parent / "generated" / "descriptor_set.binpb"
)
_STATIC = Path(__file__).resolve().parent / "static"
_WS_EOF = "EOF"
"""A text frame with exactly this content half-closes the request stream."""
_WS_METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE")
_CORRELATION_BYTES = CORRELATION_HEADER.encode("latin-1")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _rpc_error_status(exc: aio.AioRpcError) -> dict[str, Any]:
    details_bin = None
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            details_bin = value
    return status_json(exc.code(), exc.details() or "", details_bin)


@dataclass
class _Resume:
    request_field: str
    response_field: str


def _resume_of(route: GrpcRoute) -> _Resume | None:
    policy = method_policy(route.grpc_path)
    if policy and policy.resume_request_field and policy.resume_response_field:
        return _Resume(policy.resume_request_field, policy.resume_response_field)
    return None


def _get_path(message: Message, path: str) -> Any:
    value: Any = message
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _lower_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class StreamPump:
    """Reads a gRPC response stream into a bounded queue, stopping when the queue is full.

    Items are ``("message", msg)``, then exactly one ``("end", None)`` or ``("error", exc)``.
    ``saturated`` is set the first time a put finds the queue full, that is, the moment the
    pump stops reading from gRPC because the client is behind.
    """

    def __init__(self, stream: Any, maxsize: int) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize)
        self.saturated = asyncio.Event()
        self.high_water = 0
        self._stream = stream
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # Created while the caller's trace context is attached: the task copies it, so the
        # gRPC call (made on the first read) carries the incoming traceparent.
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _put(self, item: tuple[str, Any]) -> None:
        if self.queue.full():
            self.saturated.set()
        await self.queue.put(item)
        self.high_water = max(self.high_water, self.queue.qsize())

    async def _run(self) -> None:
        try:
            async for message in self._stream:
                await self._put(("message", message))
            await self._put(("end", None))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._put(("error", exc))

    async def stop(self) -> None:
        """Cancel the gRPC call and the pump (client gone or done)."""
        cancel = getattr(self._stream, "cancel", None)
        if cancel is not None:
            cancel()
        if self._task is not None:
            await stop_task(self._task)


class Gateway:
    """Everything one app instance shares: routes, config, discovery and the mesh client."""

    def __init__(
        self,
        table: RouteTable,
        files: descriptor_pb2.FileDescriptorSet,
        registry: Registry,
        config: GatewayConfig,
        new_id: Callable[[], str],
    ) -> None:
        self.table = table
        self.files = files
        self.registry = registry
        self.config = config
        self.new_id = new_id
        self.client: MeshClient | None = None
        self.pumps: set[StreamPump] = set()
        """Streams in flight (for tests and debugging: their queues are bounded)."""
        self.services = sorted({r.service for r in table.routes})
        self._openapi: dict[str, Any] | None = None
        # By (kind, gRPC path): a route's response type follows from its rpc, and a string
        # key hashes in nanoseconds where the Route dataclass hashes its whole template.
        self._callables: dict[tuple[str, str], Any] = {}

    @property
    def mesh(self) -> MeshClient:
        if self.client is None:
            raise RuntimeError("the gateway's lifespan has not started")
        return self.client

    def set_client(self, client: MeshClient | None) -> None:
        self.client = client
        self._callables.clear()  # they belong to the previous client's channels

    def unary(self, route: GrpcRoute) -> Any:
        """The mesh's unary callable for a route, made once (making one resolves the rpc's
        policy and its metric series, which costs more than the rest of a small call)."""
        return self._callable("unary_unary", route)

    def server_stream(self, route: GrpcRoute) -> Any:
        return self._callable("unary_stream", route)

    def _callable(self, kind: str, route: GrpcRoute) -> Any:
        key = (kind, route.grpc_path)
        found = self._callables.get(key)
        if found is None:
            found = getattr(self.mesh.channel(route.service), kind)(
                route.grpc_path,
                request_serializer=_serialize,
                response_deserializer=message_class(route.response_type).FromString,
                # As generated stubs do: each endpoint's channel registers the method once,
                # so grpc core does not intern the method path again on every call.
                _registered_method=True,
            )
            self._callables[key] = found
        return found

    def openapi(self) -> dict[str, Any]:
        if self._openapi is None:
            public = frozenset(
                r.grpc_path
                for r in self.table.routes
                if (p := method_policy(r.grpc_path)) is not None and p.public
            )
            resume = {
                r.grpc_path: res.request_field
                for r in self.table.routes
                if r.server_streaming and (res := _resume_of(r)) is not None
            }
            self._openapi = build_openapi(
                self.table, self.files, public_methods=public, resume_fields=resume
            )
        return self._openapi

    # -- readiness ---------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready when at least one routed service is registered and every registered one has
        an endpoint in rotation (SERVING in discovery and by grpc.health.v1). Services with
        no instance at all are reported ``absent`` and do not block readiness."""
        report: dict[str, Any] = {}
        registered = 0
        ready = True
        for service in self.services:
            instances = await self.registry.list_instances(service)
            if not instances:
                report[service] = {"status": "absent", "endpoints": 0}
                continue
            registered += 1
            channel = self.mesh.channel(service)
            with contextlib.suppress(TimeoutError):
                await channel.wait_for_endpoints(1, timeout=self.config.ready_wait_s)
            usable = [e for e in channel.endpoints() if e["status"] == "serving" and e["healthy"]]
            ok = bool(usable)
            ready = ready and ok
            report[service] = {
                "status": "serving" if ok else "unavailable",
                "endpoints": len(usable),
                "known": len(instances),
            }
        ready = ready and registered > 0
        return ready, {"status": "ready" if ready else "not_ready", "services": report}


# -- small helpers ---------------------------------------------------------------------


def _json_error(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _gateway_error(exc: GatewayError) -> JSONResponse:
    status, body = gateway_error_response(exc)
    headers = {"Allow": ", ".join(exc.allowed)} if isinstance(exc, MethodNotAllowed) else None
    return _json_error(status, body, headers)


def _add_headers(response: Response, pairs: list[tuple[str, str]]) -> None:
    for name, value in pairs:
        response.headers.append(name, value)


_fields_of: tuple[object, frozenset[str]] = (None, frozenset())


def _propagated_headers() -> frozenset[str]:
    """Header names the global propagator reads (recomputed only when it is replaced)."""
    global _fields_of
    textmap = propagate.get_global_textmap()
    if _fields_of[0] is not textmap:
        _fields_of = (textmap, frozenset(textmap.fields))
    return _fields_of[1]


_NO_TRACE_CONTEXT = contextlib.nullcontext()


def _trace_context(headers: Mapping[str, str]) -> contextlib.AbstractContextManager[None]:
    """Make the caller's W3C trace context current, so the gRPC client instrumentation
    continues that trace in the ``traceparent`` it sends. ``headers`` has lower-case names.
    A request with none of the propagator's headers has no context to continue: nothing is
    attached (extracting and attaching an empty context costs microseconds per request)."""
    if _propagated_headers().isdisjoint(headers):
        return _NO_TRACE_CONTEXT
    return _attached(headers)


@contextlib.contextmanager
def _attached(headers: Mapping[str, str]) -> Iterator[None]:
    token = otel_context.attach(propagate.extract(dict(headers)))
    try:
        yield
    finally:
        otel_context.detach(token)


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})  # type: ignore[no-any-return]


# -- the catch-all HTTP handler ----------------------------------------------------------


class _HttpRequest:
    """What the rpc handler reads from an HTTP request, straight from the ASGI scope (a
    Starlette ``Request`` would parse the same things through more layers)."""

    __slots__ = ("client_host", "header_pairs", "headers", "method", "raw_path", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        # ASGI servers send lower-case names; every pair is kept (metadata may repeat).
        self.header_pairs = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
        ]
        self.headers = dict(reversed(self.header_pairs))  # a repeated name: the first value
        client = scope.get("client")
        self.client_host: str | None = client[0] if client else None

    def query(self) -> list[tuple[str, str]]:
        raw = self.scope.get("query_string", b"")
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True) if raw else []


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


# Byte for byte what Starlette's JSONResponse renders (one encoder: json.dumps with options
# builds a new one per call).
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _c_json_encoder() -> Callable[[Any], list[str]] | None:
    """The C encoder behind ``_JSON_ENCODER``, called directly: ``JSONEncoder.encode`` spends
    more time in its Python wrapper than the C part spends encoding a small reply. No
    circular-reference markers: the content is a tree built from a protobuf message. None
    (use ``_JSON_ENCODER``) when this Python has no C encoder or it disagrees on a sample."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover  (CPython always has it)
        return None
    enc = _JSON_ENCODER
    try:
        encode = make(
            None,
            enc.default,
            json.encoder.encode_basestring,
            None,
            enc.key_separator,
            enc.item_separator,
            False,  # sort_keys
            False,  # skipkeys
            False,  # allow_nan
        )
        sample = {"a": [1, 2.5, None, True, "é\n"], "b": {"c": ""}}
        if "".join(encode(sample, 0)) != enc.encode(sample):  # pragma: no cover
            return None
    except Exception:  # pragma: no cover  (a Python whose C encoder takes other arguments)
        return None

    def run(content: Any) -> list[str]:
        return encode(content, 0)  # type: ignore[no-any-return]

    return run


_C_JSON = _c_json_encoder()


def _json_bytes(content: Any) -> bytes:
    if _C_JSON is not None:
        return "".join(_C_JSON(content)).encode("utf-8")
    return _JSON_ENCODER.encode(content).encode("utf-8")  # pragma: no cover


class _Exchange:
    """One HTTP request's answer as the outer middleware sees it: every response carries the
    correlation id header, and the status sent is kept for the metrics.

    Responses sent as Starlette ``Response`` objects go through ``send`` (it adds the header);
    the unary success path builds its headers with ``send_json`` and writes straight to the
    server's ``send``, one wrapper less per message on the path almost every request takes.
    ``tag=False``: the header is added further out (an exchange inside the middleware's).
    """

    __slots__ = ("_send", "_tags", "cid", "sent", "status")

    def __init__(self, send: Send, cid: str, *, tag: bool = True) -> None:
        self._send = send
        self.cid = cid
        self._tags = [(_CORRELATION_BYTES, cid.encode("latin-1"))] if tag else []
        self.status = 500
        self.sent = False

    async def send(self, message: AsgiMessage) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.sent = True
            if self._tags:
                message = {**message, "headers": [*message.get("headers", ()), *self._tags]}
        await self._send(message)

    async def send_json(self, content: Any, extra: list[tuple[str, str]]) -> None:
        """A 200 with ``content`` as its JSON body and the ``extra`` headers."""
        body = _json_bytes(content)
        headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]
        if extra:
            headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra]
        headers += self._tags
        self.status = 200
        self.sent = True
        send = self._send
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _handle_http(gw: Gateway, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
    response = await _call_rpc(gw, _HttpRequest(scope), receive, exchange)
    if response is not None:
        await response(scope, receive, exchange.send)


async def _call_rpc(
    gw: Gateway, request: _HttpRequest, receive: Receive, exchange: _Exchange
) -> Response | None:
    """Serve one HTTP request by its rpc. Returns the response to send, or None when the
    reply has been sent already (the unary success path) or the client is gone."""
    try:
        match = gw.table.match(request.method, request.raw_path)
    except GatewayError as exc:
        return _gateway_error(exc)
    route = match.route
    _state(request.scope)["route"] = route.pattern
    if route.client_streaming:
        return _json_error(
            501,
            status_json(
                code_pb2.UNIMPLEMENTED,
                f"{route.rpc} streams requests: open a WebSocket on {route.pattern}",
            ),
        )
    stream = route.server_streaming
    resume = _resume_of(route) if stream else None
    headers = request.headers
    body = await _read_body(receive)
    if body is None:
        return None  # nobody to answer
    try:
        query = request.query()
        # As Starlette's query_params.get: the last value of a repeated key.
        access_token = dict(query).get("access_token") if stream else None
        last_event_id = headers.get("last-event-id") if resume else None
        if resume and last_event_id and route.body != "*":
            names = {resume.request_field, _lower_camel(resume.request_field)}
            query = [(k, v) for k, v in query if k not in names]
            query.append((resume.request_field, last_event_id))
        message = build_request(
            route,
            match.variables,
            query,
            body,
            ignore_unknown_fields=gw.config.ignore_unknown_fields,
            ignored_query_params=frozenset({"access_token"}) if stream else frozenset(),
        )
        timeout_header = headers.get("grpc-timeout")
        requested = parse_grpc_timeout(timeout_header) if timeout_header is not None else None
        metadata = request_metadata(
            request.header_pairs,
            peer=request.client_host,
            correlation=exchange.cid,
            access_token=access_token,
        )
    except TranscodeError as exc:
        return _gateway_error(exc)
    if not stream:
        call = gw.unary(route)(message, timeout=gw.config.cap_timeout(requested), metadata=metadata)
        with _trace_context(headers):
            try:
                reply = await call
            except aio.AioRpcError as exc:
                resp = _json_error(http_status(exc.code()), _rpc_error_status(exc))
                _add_headers(
                    resp, response_headers(exc.initial_metadata(), exc.trailing_metadata())
                )
                return resp
        extra = response_headers(await call.initial_metadata(), await call.trailing_metadata())
        await exchange.send_json(response_to_json(route, reply), extra)
        return None
    # Server stream: no default deadline (a watch lives as long as its client wants).
    timeout = gw.config.cap_timeout(requested) if requested is not None else None
    stream_call = gw.server_stream(route)(message, timeout=timeout, metadata=metadata)
    pump = StreamPump(stream_call, gw.config.ws_queue_size)
    with _trace_context(headers):
        pump.start()
    gw.pumps.add(pump)
    if "text/event-stream" in headers.get("accept", ""):
        return EventSourceResponse(
            _sse_events(gw, pump, route, resume),
            ping=gw.config.sse_keepalive_s,
            ping_message_factory=lambda: ServerSentEvent(comment="keep-alive"),
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
    return StreamingResponse(_ndjson_lines(gw, pump, route), media_type="application/x-ndjson")


async def _drain(gw: Gateway, pump: StreamPump, kind: str) -> AsyncIterator[tuple[str, Any]]:
    metrics.open_streams.labels(kind).inc()
    try:
        while True:
            item = await pump.queue.get()
            yield item
            if item[0] != "message":
                return
    finally:
        metrics.open_streams.labels(kind).dec()
        gw.pumps.discard(pump)
        # Normal end, error, or the client went away (the response task is cancelled and
        # this generator closed): in every case the gRPC call must not outlive the request.
        await pump.stop()


def _error_status(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, aio.AioRpcError):
        return _rpc_error_status(exc)
    ref = uuid.uuid4().hex[:12]
    log.error("stream failed unexpectedly (ref %s)", ref, exc_info=exc)
    metrics.unexpected_errors.inc()
    return status_json(code_pb2.INTERNAL, f"internal error (ref {ref})")


async def _sse_events(
    gw: Gateway, pump: StreamPump, route: GrpcRoute, resume: _Resume | None
) -> AsyncIterator[ServerSentEvent]:
    async for kind, item in _drain(gw, pump, "sse"):
        if kind == "message":
            cursor = str(_get_path(item, resume.response_field)) if resume else None
            yield ServerSentEvent(
                data=json.dumps(response_to_json(route, item)), event="message", id=cursor
            )
        elif kind == "end":
            yield ServerSentEvent(data="{}", event="end")
        else:
            yield ServerSentEvent(data=json.dumps(_error_status(item)), event="error")


async def _ndjson_lines(gw: Gateway, pump: StreamPump, route: GrpcRoute) -> AsyncIterator[bytes]:
    async for kind, item in _drain(gw, pump, "ndjson"):
        if kind == "message":
            yield json.dumps({"result": response_to_json(route, item)}).encode() + b"\n"
        elif kind == "error":
            yield json.dumps({"error": _error_status(item)}).encode() + b"\n"


# -- WebSocket ---------------------------------------------------------------------------


def _ws_match(gw: Gateway, raw_path: bytes) -> RouteMatch | None:
    """The streaming route bound to this path, whatever its HTTP method (the handshake is a
    GET); client-streaming routes first."""
    found: list[RouteMatch] = []
    for method in _WS_METHODS:
        try:
            m = gw.table.match(method, raw_path)
        except GatewayError:
            continue
        if m.route.client_streaming or m.route.server_streaming:
            found.append(m)
    found.sort(key=lambda m: not m.route.client_streaming)
    return found[0] if found else None


async def _ws_close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code, ws_close_reason(reason))


async def _handle_ws(gw: Gateway, ws: WebSocket) -> None:
    raw_path = ws.scope.get("raw_path") or ws.url.path.encode()
    await ws.accept()
    match = _ws_match(gw, raw_path)
    if match is None:
        await _ws_close(ws, ws_close_code(code_pb2.NOT_FOUND), "no streaming rpc at this path")
        return
    route = match.route
    cid = correlation_id(ws.headers.get(CORRELATION_HEADER), gw.new_id)
    try:
        metadata = request_metadata(
            ws.headers.items(),
            peer=ws.client.host if ws.client else None,
            correlation=cid,
            access_token=ws.query_params.get("access_token"),
        )
        first: Message | None = None
        if not route.client_streaming:
            first = build_request(
                route,
                match.variables,
                ws.query_params.multi_items(),
                b"",
                ignore_unknown_fields=gw.config.ignore_unknown_fields,
                ignored_query_params=frozenset({"access_token"}),
            )
    except TranscodeError as exc:
        await _ws_close(ws, ws_close_code(code_pb2.INVALID_ARGUMENT), exc.message)
        return
    session = _WsSession(gw, ws, route, match.variables)
    metrics.open_streams.labels("websocket").inc()
    try:
        with _trace_context(ws.headers):
            await session.run(metadata, first)
    finally:
        metrics.open_streams.labels("websocket").dec()


class _WsSession:
    """One WebSocket bridged to one streaming call.

    Socket -> call: a reader task feeds a one-slot queue that the call's request iterator
    drains, so the gateway reads the socket only as fast as gRPC takes messages. Call ->
    socket: a ``StreamPump`` (bounded queue) and a writer. A text frame ``EOF`` half-closes
    the request stream; the socket closing cancels the call.
    """

    def __init__(
        self, gw: Gateway, ws: WebSocket, route: GrpcRoute, variables: Mapping[str, str]
    ) -> None:
        self.gw = gw
        self.ws = ws
        self.route = route
        self.variables = variables
        self.inbound: asyncio.Queue[Message | None] = asyncio.Queue(1)
        self.binary = False
        self.request_cls = message_class(route.request_type)

    def _parse(self, frame: AsgiMessage) -> Message | None:
        """A request message from a frame; None for the EOF frame. Raises TranscodeError."""
        if frame.get("bytes") is not None:
            self.binary = True
            try:
                return self.request_cls.FromString(frame["bytes"])
            except DecodeError:
                raise TranscodeError("binary frame is not a serialized request message") from None
        text = frame.get("text") or ""
        if text == _WS_EOF:
            return None
        self.binary = False
        return build_request(
            self.route,
            self.variables,
            (),
            text.encode(),
            ignore_unknown_fields=self.gw.config.ignore_unknown_fields,
        )

    async def _read(self) -> TranscodeError | None:
        """Read frames until the client leaves (None) or sends a bad one (the error)."""
        half_closed = not self.route.client_streaming
        while True:
            frame = await self.ws.receive()
            if frame["type"] == "websocket.disconnect":
                return None
            if half_closed:
                if not self.route.client_streaming:
                    continue  # a server stream takes no messages; ignore them
                return TranscodeError("message after EOF: the request stream is closed")
            try:
                message = self._parse(frame)
            except TranscodeError as exc:
                return exc
            await self.inbound.put(message)
            half_closed = message is None

    async def _requests(self) -> AsyncIterator[Message]:
        while True:
            message = await self.inbound.get()
            if message is None:
                return
            yield message

    def _encode(self, message: Message) -> AsgiMessage:
        if self.binary:
            return {"type": "websocket.send", "bytes": message.SerializeToString()}
        return {"type": "websocket.send", "text": json.dumps(message_to_json(message))}

    async def _write(self, pump: StreamPump) -> None:
        while True:
            kind, item = await pump.queue.get()
            if kind == "message":
                await self.ws.send(self._encode(item))
                continue
            if kind == "end":
                await _ws_close(self.ws, ws_close_code(code_pb2.OK), "")
            else:
                status = _error_status(item)
                await _ws_close(self.ws, ws_close_code(status["code"]), status["message"])
            return

    async def run(self, metadata: list[tuple[str, Any]], first: Message | None) -> None:
        channel = self.gw.mesh.channel(self.route.service)
        response_cls = message_class(self.route.response_type)
        kind = "unary_stream"
        if self.route.client_streaming:
            kind = "stream_stream" if self.route.server_streaming else "stream_unary"
        factory = getattr(channel, kind)(
            self.route.grpc_path,
            request_serializer=_serialize,
            response_deserializer=response_cls.FromString,
            _registered_method=True,  # as in Gateway._callable
        )
        try:
            call = factory(first if first is not None else self._requests(), metadata=metadata)
        except aio.AioRpcError as exc:
            status = _rpc_error_status(exc)
            await _ws_close(self.ws, ws_close_code(status["code"]), status["message"])
            return
        source: Any = call
        if kind == "stream_unary":
            source = _single(call)
        pump = StreamPump(_Cancellable(source, call), self.gw.config.ws_queue_size)
        pump.start()
        self.gw.pumps.add(pump)
        reader = asyncio.get_running_loop().create_task(self._read())
        writer = asyncio.get_running_loop().create_task(self._write(pump))
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done and not writer.done():
                problem = reader.result()
                await pump.stop()
                writer.cancel()
                if problem is not None:
                    await _ws_close(
                        self.ws, ws_close_code(code_pb2.INVALID_ARGUMENT), problem.message
                    )
        except WebSocketDisconnect:
            pass
        finally:
            for task in (reader, writer):
                await stop_task(task)
            self.gw.pumps.discard(pump)
            await pump.stop()


async def _single(call: Awaitable[Any]) -> AsyncIterator[Any]:
    yield await call


class _Cancellable:
    """An async iterable whose ``cancel`` cancels the underlying gRPC call."""

    def __init__(self, source: Any, call: Any) -> None:
        self._source = source
        self._call = call

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._source.__aiter__()  # type: ignore[no-any-return]

    def cancel(self) -> bool:
        return bool(self._call.cancel())


# -- the outer middleware: correlation id, metrics, last-resort errors --------------------


class _GatewayMiddleware:
    """Correlation id in and out, request metrics, and a 500 with a reference id for any
    exception that escapes (logged with its traceback, never sent).

    HTTP requests for any path other than the gateway's own pages (``own_paths``) go straight
    to the rpc handler: the router would send them there anyway (its last route is a
    catch-all mount), only after matching every fixed route first.
    """

    def __init__(self, app: ASGIApp, gw: Gateway, own_paths: frozenset[str]) -> None:
        self.app = app
        self.gw = gw
        self.own_paths = own_paths
        self._stats: dict[tuple[str, str], metrics.RouteStats] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name.lower() == _CORRELATION_BYTES:
                given = value.decode("latin-1")  # the last one, as before
        exchange = _Exchange(send, correlation_id(given, self.gw.new_id))
        state = _state(scope)
        state["correlation_id"] = exchange.cid
        started = time.perf_counter()
        try:
            if scope["path"] in self.own_paths or scope.get("root_path"):
                await self.app(scope, receive, exchange.send)
            else:
                await _handle_http(self.gw, scope, receive, exchange)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("unexpected error (ref %s) on %s %s", ref, scope["method"], scope["path"])
            metrics.unexpected_errors.inc()
            if not exchange.sent:
                body = status_json(code_pb2.INTERNAL, f"internal error (ref {ref})")
                await JSONResponse(body, status_code=500)(scope, receive, exchange.send)
        finally:
            route = state.get("route", "unmatched")
            self._observe(scope["method"], route, exchange.status, started)

    def _observe(self, method: str, route: str, status: int, started: float) -> None:
        stats = self._stats.get((method, route))
        if stats is None:
            stats = self._stats[(method, route)] = metrics.route_stats(method, route)
        stats.record(status, time.perf_counter() - started)


# -- the app -------------------------------------------------------------------------------


class _GatewayStarlette(Starlette):
    """Starlette without its outermost ``ServerErrorMiddleware``.

    ``_GatewayMiddleware`` answers every exception from the layers under it with a JSON 500
    and a reference id, so that middleware never sees one; leaving it out saves a wrapper
    around every request and every message sent. Anything raised above the gateway
    middleware (CORS, when configured) still reaches the ASGI server, which answers 500.
    """

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if isinstance(stack, ServerErrorMiddleware):
            return stack.app
        return stack  # pragma: no cover  (a Starlette that builds its stack differently)


def create_app(
    *,
    registry: Registry,
    descriptor_set_path: Path | str = DEFAULT_DESCRIPTOR_SET,
    config: GatewayConfig | None = None,
    client_config: ClientConfig | None = None,
    new_id: Callable[[], str] = lambda: os.urandom(16).hex(),
) -> Starlette:
    """The gateway app for every rpc with an http rule in the descriptor set.

    Raises the core's build-time errors (``AmbiguousRoute``, ``InvalidBinding``,
    ``TemplateSyntaxError``) when the protos' http rules are not valid: the gateway must
    not start. ``client_config`` defaults to the mesh defaults without a default deadline
    (the gateway sets each call's deadline itself). ``app.state.gateway`` is the ``Gateway``.
    """
    config = config or GatewayConfig()
    data = Path(descriptor_set_path).read_bytes()
    files = descriptor_pb2.FileDescriptorSet.FromString(data)
    table = RouteTable.from_file_descriptor_set(files)
    gw = Gateway(table, files, registry, config, new_id)
    mesh_config = client_config or ClientConfig(default_timeout=None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        telemetry.instrument_grpc()  # before any channel exists
        client = MeshClient(registry, mesh_config)
        gw.set_client(client)
        try:
            yield
        finally:
            for pump in list(gw.pumps):
                await pump.stop()
            await client.close()
            gw.set_client(None)

    def named(
        name: str, fn: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            _state(request.scope)["route"] = name
            return await fn(request)

        return endpoint

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "live"})

    async def ready(request: Request) -> Response:
        ok, body = await gw.readiness()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def console_health(request: Request) -> Response:
        _, body = await gw.readiness()
        return JSONResponse(body)

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(gw.openapi())

    def static(name: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return FileResponse(
                _STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"}
            )

        return serve

    async def catch_all(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await _handle_ws(gw, WebSocket(scope, receive, send))
            return
        # Reached through the router (a root path is set): the gateway middleware, further
        # out, has chosen the correlation id and adds its header.
        cid = _state(scope).get("correlation_id")
        if cid is None:  # pragma: no cover  (the gateway middleware always sets it)
            exchange = _Exchange(send, correlation_id(None, gw.new_id))
        else:
            exchange = _Exchange(send, cid, tag=False)
        await _handle_http(gw, scope, receive, exchange)

    routes: list[Any] = [
        Route("/health", named("/health", ready)),
        Route("/health/live", named("/health/live", live)),
        Route("/health/ready", named("/health/ready", ready)),
        Route("/metrics", named("/metrics", prometheus)),
        Route("/openapi.json", named("/openapi.json", openapi)),
        Route("/docs", named("/docs", static("docs.html", "text/html"))),
    ]
    if config.console:
        routes += [
            Route("/console", named("/console", static("console.html", "text/html"))),
            Route(
                "/console/console.js", named("/console", static("console.js", "text/javascript"))
            ),
            Route("/console/health.json", named("/console/health.json", console_health)),
        ]
    routes.append(Mount("", app=catch_all))
    middleware = []
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                # Grpc-Metadata-* names are open-ended, so any request header is allowed and
                # every response header exposed (no credentials mode: "*" is honoured).
                allow_headers=["*"],
                expose_headers=["*"],
                max_age=600,
            )
        )
    own_paths = frozenset(r.path for r in routes if isinstance(r, Route))
    middleware.append(Middleware(_GatewayMiddleware, gw=gw, own_paths=own_paths))
    app = _GatewayStarlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.gateway = gw
    return app
