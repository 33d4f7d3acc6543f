"""The mesh client: discovery-driven balancing with breakers, retries, hedging and deadlines.

grpcio has no public resolver or balancer API, so the mesh owns one grpc.aio
channel per endpoint and picks among them itself. ``MeshClient.channel(service)``
returns a ``ServiceChannel`` that generated stubs accept in place of a
``grpc.aio.Channel``::

    client = MeshClient(registry)
    stub = CrisisServiceStub(client.channel("lilo.crisis.v1.CrisisService"))
    alert = await stub.GetAlert(request)

Per call, in order: the deadline is the tightest of the caller's timeout, the
deadline of the call being handled (propagated via ``mesh.context``) and the
default; an endpoint is picked among those that are SERVING in discovery, healthy
by ``grpc.health.v1`` Watch, not ejected as outliers and whose breaker admits the
call; failures are retried only when ``RetryPolicy`` allows it (idempotent rpc, or
the request never left) and the per-service ``RetryBudget`` has room; idempotent
unary calls may be hedged. A broken server stream whose rpc declares a resume
cursor continues on another endpoint from the last cursor seen.

Client- and bidi-streaming calls are pinned to one endpoint (ring-hash on the
``x-lilo-affinity-key`` header when the policy is ``ring_hash``) and not retried:
a request stream cannot be replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import context, telemetry
from mesh.background import raise_if_cancelling, stop_task
from mesh.balancing import Endpoint, Picker, make_picker
from mesh.breaker import EndpointBreaker, OutlierConfig, OutlierDetector
from mesh.clock import Clock, SystemClock
from mesh.errors import CircuitOpenError, NoEndpointsError
from mesh.policy import MethodPolicy, method_policy
from mesh.registry.base import InstanceRecord, Registry, Snapshot
from mesh.retry import HedgingPolicy, RetryBudget, RetryPolicy

log = logging.getLogger(__name__)

AFFINITY_HEADER = "x-lilo-affinity-key"
_BREAKER_GAUGE = {"closed": 0, "half_open": 1, "open": 2}
# A stream that dies with one of these on the server's side may resume elsewhere.
_RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


@dataclass(frozen=True, kw_only=True)
class ClientTls:
    """Client TLS: the CA that signs servers, and our own certificate for mTLS."""

    ca_file: str
    cert_file: str = ""
    key_file: str = ""
    server_name_override: str = ""


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """How a ``MeshClient`` balances and protects calls. Frozen and validated."""

    policy: str = "round_robin"
    """Default balancing policy (see ``mesh.balancing.PICKER_NAMES``)."""
    service_policies: dict[str, str] = field(default_factory=dict)
    """Per-service override, e.g. ring_hash for the voice service."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    budget_percent: float = 20.0
    min_retry_concurrency: int = 3
    breaker_fail_max: int = 5
    breaker_reset_s: float = 5.0
    outliers: OutlierConfig | None = field(default_factory=OutlierConfig)
    hedging: HedgingPolicy | None = None
    """Hedge idempotent unary calls when set."""
    default_timeout: float | None = 30.0
    health_check: bool = True
    """Follow each endpoint's grpc.health.v1 Watch and skip NOT_SERVING ones."""
    first_snapshot_timeout: float = 2.0
    tls: ClientTls | None = None
    channel_options: tuple[tuple[str, Any], ...] = (
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    )

    def __post_init__(self) -> None:
        make_picker(self.policy)  # raises ConfigError for an unknown name
        for name in self.service_policies.values():
            make_picker(name)


class MeshClient:
    """Owns discovery watches and channels. Create, use and close it on one event loop."""

    def __init__(
        self,
        registry: Registry,
        config: ClientConfig | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        telemetry.instrument_grpc()  # must precede channel creation
        self.registry = registry
        self.config = config or ClientConfig()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._channels: dict[str, ServiceChannel] = {}

    def channel(self, service: str) -> ServiceChannel:
        """The balanced channel for ``service`` (fully qualified name), created on first use."""
        channel = self._channels.get(service)
        if channel is None:
            policy = self.config.service_policies.get(service, self.config.policy)
            channel = ServiceChannel(
                self, service, make_picker(policy, clock=self._clock, rng=self._rng)
            )
            self._channels[service] = channel
        return channel

    def stub(self, stub_class: Callable[[Any], Any], service: str) -> Any:
        return stub_class(self.channel(service))

    async def close(self) -> None:
        for channel in list(self._channels.values()):
            await channel.close()
        self._channels.clear()


class _Conn:
    """One endpoint: its channel, breaker and health."""

    def __init__(self, owner: ServiceChannel, record: InstanceRecord) -> None:
        self.record = record
        self.endpoint = Endpoint(
            key=record.instance_id, address=record.address, weight=record.weight, zone=record.zone
        )
        cfg = owner.client.config
        self.channel = _open_channel(record.address, cfg)
        self.healthy = True  # discovery said SERVING; health Watch may say otherwise
        self.breaker = EndpointBreaker(
            record.address,
            fail_max=cfg.breaker_fail_max,
            reset_timeout_s=cfg.breaker_reset_s,
            clock=owner.client._clock,
            on_state_change=lambda old, new: telemetry.mesh_breaker_state.labels(
                owner.service, record.address
            ).set(_BREAKER_GAUGE.get(str(new), 0)),
        )
        self.health_task: asyncio.Task[None] | None = None
        if cfg.health_check:
            self.health_task = asyncio.get_running_loop().create_task(
                self._follow_health(owner.service, owner.health_changed)
            )

    async def _follow_health(self, service: str, changed: Callable[[], None]) -> None:
        stub = health_pb2_grpc.HealthStub(self.channel)
        delay = 0.05
        while True:
            try:
                async for reply in stub.Watch(health_pb2.HealthCheckRequest(service=service)):
                    healthy = reply.status == health_pb2.HealthCheckResponse.SERVING
                    if healthy != self.healthy:
                        self.healthy = healthy
                        changed()
                    delay = 0.05
            except aio.AioRpcError as exc:
                raise_if_cancelling()
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    return  # no health service: rely on discovery alone
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def close(self, grace: float | None) -> None:
        if self.health_task is not None:
            await stop_task(self.health_task)
        await self.channel.close(grace)


def _open_channel(address: str, cfg: ClientConfig) -> aio.Channel:
    options = list(cfg.channel_options)
    if cfg.tls is None:
        return aio.insecure_channel(address, options=options)
    from pathlib import Path

    creds = grpc.ssl_channel_credentials(
        root_certificates=Path(cfg.tls.ca_file).read_bytes(),
        private_key=Path(cfg.tls.key_file).read_bytes() if cfg.tls.key_file else None,
        certificate_chain=Path(cfg.tls.cert_file).read_bytes() if cfg.tls.cert_file else None,
    )
    if cfg.tls.server_name_override:
        options.append(("grpc.ssl_target_name_override", cfg.tls.server_name_override))
    return aio.secure_channel(address, creds, options=options)


class ServiceChannel:
    """A balanced channel to every instance of one service; generated stubs accept it."""

    def __init__(self, client: MeshClient, service: str, picker: Picker) -> None:
        self.client = client
        self.service = service
        self.picker = picker
        self.budget = RetryBudget(
            budget_percent=client.config.budget_percent,
            min_retry_concurrency=client.config.min_retry_concurrency,
        )
        self.outliers = (
            OutlierDetector(client.config.outliers, clock=client._clock)
            if client.config.outliers
            else None
        )
        self._conns: dict[str, _Conn] = {}
        self._snapshot: Snapshot | None = None
        self._have_snapshot = asyncio.Event()
        self._changed = asyncio.Event()
        self._watch = asyncio.get_running_loop().create_task(self._follow_registry())
        self.applied_at: float = 0.0
        """``time.monotonic()`` of the last membership change applied (for benchmarks)."""

    # -- membership ------------------------------------------------------------------

    async def _follow_registry(self) -> None:
        async for snapshot in self.client.registry.watch(self.service):
            self._apply(snapshot)

    def _apply(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        live = {r.instance_id: r for r in snapshot.instances}
        for key in list(self._conns):
            record = live.get(key)
            if record is None or record.address != self._conns[key].record.address:
                conn = self._conns.pop(key)
                # In-flight calls to a leaving instance may finish; new ones go elsewhere.
                asyncio.get_running_loop().create_task(conn.close(grace=5.0))
        for key, record in live.items():
            if key in self._conns:
                self._conns[key].record = record
            else:
                self._conns[key] = _Conn(self, record)
        if self.outliers is not None:
            self.outliers.set_endpoints(live)
        self.applied_at = time.monotonic()
        self._have_snapshot.set()
        self.health_changed()

    def health_changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        usable = len(self._rotation())
        telemetry.mesh_endpoints.labels(self.service, "usable").set(usable)
        telemetry.mesh_endpoints.labels(self.service, "known").set(len(self._conns))

    def _rotation(self) -> list[_Conn]:
        conns = [c for c in self._conns.values() if c.record.serving and c.healthy]
        if self.outliers is not None:
            admitted = {e.key for e in self.outliers.admitted([c.endpoint for c in conns])}
            conns = [c for c in conns if c.endpoint.key in admitted]
        return conns

    def endpoints(self) -> list[dict[str, Any]]:
        """What this client knows of each endpoint, for meshctl and /health."""
        return [
            {
                "instance_id": c.record.instance_id,
                "address": c.record.address,
                "status": c.record.status.value,
                "healthy": c.healthy,
                "breaker": str(c.breaker.state),
                "zone": c.record.zone,
                "weight": c.record.weight,
                "version": c.record.version,
            }
            for c in sorted(self._conns.values(), key=lambda c: c.record.instance_id)
        ]

    async def wait_for_endpoints(self, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``count`` endpoints are in rotation (tests, start-up)."""

        async def until() -> None:
            while len(self._rotation()) < count:
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def _pick(self, hash_key: str | None, avoid: set[str], deadline: float | None) -> _Conn:
        if not self._have_snapshot.is_set():
            wait = self.client.config.first_snapshot_timeout
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._have_snapshot.wait(), wait)
        rotation = [c for c in self._rotation() if c.breaker.available]
        fresh = [c for c in rotation if c.endpoint.key not in avoid] or rotation
        if not fresh:
            raise NoEndpointsError(self.service)
        endpoint = self.picker.pick([c.endpoint for c in fresh], hash_key=hash_key)
        return self._conns[endpoint.key]

    async def close(self) -> None:
        await stop_task(self._watch)
        for conn in self._conns.values():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.close(grace=None), 5.0)
        self._conns.clear()

    # -- the grpc.aio.Channel surface that generated stubs use -------------------------

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _UnaryUnary:
        return _UnaryUnary(self, method, request_serializer, response_deserializer)

    def unary_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _UnaryStream:
        return _UnaryStream(self, method, request_serializer, response_deserializer)

    def stream_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _Pinned:
        return _Pinned(self, method, request_serializer, response_deserializer, "stream_unary")

    def stream_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _Pinned:
        return _Pinned(self, method, request_serializer, response_deserializer, "stream_stream")


# -- per-call machinery ----------------------------------------------------------------


def _unavailable(details: str) -> aio.AioRpcError:
    return aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, aio.Metadata(), aio.Metadata(), details)


def _deadline(timeout: float | None, default: float | None) -> float | None:
    """The absolute deadline of an outgoing call: the tightest that applies."""
    now = time.monotonic()
    candidates = [now + t for t in (timeout, default) if t is not None]
    call = context.current()
    if call is not None and call.deadline is not None:
        candidates.append(call.deadline)
    return min(candidates) if candidates else None


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise aio.AioRpcError(
            grpc.StatusCode.DEADLINE_EXCEEDED, aio.Metadata(), aio.Metadata(), "deadline exceeded"
        )
    return left


def _metadata(given: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    """Caller metadata plus the headers of the call being handled (identity, ids)."""
    out = list(given or ())
    present = {k for k, _ in out}
    call = context.current()
    if call is not None:
        out.extend((k, v) for k, v in call.forward_metadata if k not in present)
    return out


def _hash_key(metadata: Sequence[tuple[str, Any]]) -> str | None:
    return next((str(v) for k, v in metadata if k == AFFINITY_HEADER), None)


def _was_sent(exc: BaseException) -> bool:
    """False when the request provably never reached a server."""
    if isinstance(exc, CircuitOpenError):
        return False
    if isinstance(exc, aio.AioRpcError) and exc.code() == grpc.StatusCode.UNAVAILABLE:
        details = (exc.details() or "").lower()
        return not ("failed to connect" in details or "connection refused" in details)
    return True


def _code(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, aio.AioRpcError):
        return exc.code()
    if isinstance(exc, (CircuitOpenError, NoEndpointsError)):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.UNKNOWN


class _Method:
    def __init__(
        self,
        channel: ServiceChannel,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
    ) -> None:
        self._channel = channel
        self._method = method
        self._ser = serializer
        self._de = deserializer
        self.policy: MethodPolicy | None = method_policy(method)
        service, _, name = method.lstrip("/").partition("/")
        cs = bool(self.policy and self.policy.client_streaming)
        ss = bool(self.policy and self.policy.server_streaming)
        self._labels = (telemetry.grpc_type(cs, ss), service, name)
        # Label lookups cost microseconds per call: resolve the children once.
        self.started_counter = telemetry.client_started.labels(*self._labels)
        self.seconds_histogram = telemetry.client_seconds.labels(*self._labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def handled(self, code: grpc.StatusCode) -> None:
        counter = self._handled.get(code)
        if counter is None:
            counter = self._handled[code] = telemetry.client_handled.labels(
                *self._labels, code.name
            )
        counter.inc()

    @property
    def idempotent(self) -> bool:
        return bool(self.policy and self.policy.idempotent)

    def _finish(self, conn: _Conn, started: float, exc: BaseException | None) -> None:
        ok = exc is None
        self._channel.picker.on_finish(conn.endpoint, time.monotonic() - started, ok)
        outliers = self._channel.outliers
        if outliers is not None:
            endpoint_failed = exc is not None and _code(exc) in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            )
            if outliers.record(conn.endpoint.key, not endpoint_failed):
                telemetry.mesh_ejections.labels(self._channel.service, conn.record.address).inc()
                self._channel.health_changed()


class _UnaryUnary(_Method):
    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, Any]] | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> _UnaryCall:
        return _UnaryCall(self, request, timeout, _metadata(metadata))


class _UnaryCall:
    """An awaitable unary call; after it completes, its metadata can be read."""

    def __init__(
        self,
        method: _UnaryUnary,
        request: Any,
        timeout: float | None,
        metadata: list[tuple[str, Any]],
    ) -> None:
        self._m = method
        self._request = request
        self._metadata = metadata
        self._deadline = _deadline(timeout, method._channel.client.config.default_timeout)
        self._last: aio.UnaryUnaryCall[Any, Any] | None = None

    def __await__(self) -> Any:
        return self._run().__await__()

    async def initial_metadata(self) -> aio.Metadata:
        return await self._last.initial_metadata() if self._last else aio.Metadata()

    async def trailing_metadata(self) -> aio.Metadata:
        return await self._last.trailing_metadata() if self._last else aio.Metadata()

    async def _run(self) -> Any:
        m, channel = self._m, self._m._channel
        started = time.perf_counter()
        m.started_counter.inc()
        channel.budget.request_started()
        code = grpc.StatusCode.OK
        try:
            hedging = channel.client.config.hedging
            if hedging is not None and m.idempotent:
                return await self._hedged(hedging)
            return await self._with_retries()
        except BaseException as exc:
            code = _code(exc)
            if isinstance(exc, (CircuitOpenError, NoEndpointsError)):
                raise _unavailable(str(exc)) from exc
            raise
        finally:
            channel.budget.request_finished()
            m.seconds_histogram.observe(time.perf_counter() - started)
            m.handled(code)

    async def _attempt(self, avoid: set[str]) -> Any:
        m, channel = self._m, self._m._channel
        conn = await channel._pick(_hash_key(self._metadata), avoid, self._deadline)
        avoid.add(conn.endpoint.key)
        call_fn = conn.channel.unary_unary(m._method, m._ser, m._de)
        channel.picker.on_start(conn.endpoint)
        began = time.monotonic()
        error: BaseException | None = None
        try:

            def send() -> Any:
                self._last = call_fn(
                    self._request, timeout=_remaining(self._deadline), metadata=self._metadata
                )
                return self._last

            return await conn.breaker.run(send)
        except BaseException as exc:
            error = exc
            raise
        finally:
            m._finish(conn, began, error)

    async def _with_retries(self) -> Any:
        m, channel = self._m, self._m._channel
        policy = channel.client.config.retry
        avoid: set[str] = set()
        attempt = 0
        while True:
            attempt += 1
            retrying = attempt > 1
            try:
                return await self._attempt(avoid)
            except (aio.AioRpcError, CircuitOpenError, NoEndpointsError) as exc:
                if isinstance(exc, NoEndpointsError):
                    raise
                if not policy.should_retry(attempt, _code(exc), m.idempotent, _was_sent(exc)):
                    raise
                if not channel.budget.try_acquire_retry():
                    telemetry.mesh_retries.labels(channel.service, "budget_exhausted").inc()
                    raise
                telemetry.mesh_retries.labels(channel.service, "sent").inc()
                try:
                    pause = policy.backoff_s(attempt, channel.client._rng)
                    left = _remaining(self._deadline)
                    await asyncio.sleep(pause if left is None else min(pause, left))
                except BaseException:
                    channel.budget.retry_finished()
                    raise
            finally:
                if retrying:
                    channel.budget.retry_finished()

    async def _hedged(self, hedging: HedgingPolicy) -> Any:
        channel = self._m._channel
        avoid: set[str] = set()
        tasks: list[asyncio.Task[Any]] = [asyncio.ensure_future(self._attempt(avoid))]
        holds_budget: set[asyncio.Task[Any]] = set()
        last_error: BaseException | None = None
        try:
            while tasks:
                wait = (
                    hedging.delay_s
                    if len(tasks) + len(holds_budget) <= hedging.max_hedges
                    else None
                )
                done, _ = await asyncio.wait(
                    tasks, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    tasks.remove(task)
                    if task in holds_budget:
                        holds_budget.discard(task)
                        channel.budget.retry_finished()
                    if task.exception() is None:
                        return task.result()
                    last_error = task.exception()
                    assert last_error is not None
                    if _code(last_error) not in hedging.non_fatal_codes:
                        raise last_error
                sent = 1 + len([t for t in tasks if t in holds_budget])
                hedge_due = (not done or last_error) and sent <= hedging.max_hedges
                if hedge_due and channel.budget.try_acquire_retry():
                    telemetry.mesh_hedges.labels(channel.service).inc()
                    hedge = asyncio.ensure_future(self._attempt(avoid))
                    holds_budget.add(hedge)
                    tasks.append(hedge)
            assert last_error is not None
            raise last_error
        finally:
            for task in tasks:
                task.cancel()
            for _ in holds_budget:
                channel.budget.retry_finished()


class _UnaryStream(_Method):
    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, Any]] | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> _StreamCall:
        # Streams live as long as their consumer wants: no default deadline.
        return _StreamCall(self, request, _deadline(timeout, None), _metadata(metadata))


class _StreamCall:
    """An async-iterable server stream that resumes elsewhere when its contract allows."""

    def __init__(
        self,
        method: _UnaryStream,
        request: Any,
        deadline: float | None,
        metadata: list[tuple[str, Any]],
    ) -> None:
        self._m = method
        self._request = request
        self._deadline = deadline
        self._metadata = metadata
        self._current: aio.UnaryStreamCall[Any, Any] | None = None
        self.resumes = 0

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._run()

    def cancel(self) -> bool:
        return bool(self._current and self._current.cancel())

    async def _run(self) -> AsyncIterator[Any]:
        m, channel = self._m, self._m._channel
        policy = m.policy
        resumable = bool(policy and policy.resume_request_field and policy.resume_response_field)
        request: Any = self._request
        cursor: Any = None
        avoid: set[str] = set()
        m.started_counter.inc()
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            while True:
                try:
                    conn = await channel._pick(_hash_key(self._metadata), avoid, self._deadline)
                except NoEndpointsError as exc:
                    raise _unavailable(str(exc)) from exc
                avoid = {conn.endpoint.key}
                call = conn.channel.unary_stream(m._method, m._ser, m._de)(
                    request, timeout=_remaining(self._deadline), metadata=self._metadata
                )
                self._current = call
                channel.picker.on_start(conn.endpoint)
                began, error = time.monotonic(), None
                try:
                    async for message in call:
                        if resumable:
                            cursor = _get_path(message, policy.resume_response_field)  # type: ignore[union-attr]
                        yield message
                    return
                except aio.AioRpcError as exc:
                    error = exc
                    if not (resumable and exc.code() in _RESUMABLE and not call.cancelled()):
                        raise
                    if self.resumes >= 10:
                        raise
                    log.info(
                        "resuming %s after %s from cursor %r", m._method, exc.code().name, cursor
                    )
                    self.resumes += 1
                    if cursor is not None:
                        request = _with_field(request, policy.resume_request_field, cursor)  # type: ignore[union-attr]
                finally:
                    m._finish(conn, began, error)
        except BaseException as exc:
            code = _code(exc)
            raise
        finally:
            m.seconds_histogram.observe(time.perf_counter() - started)
            m.handled(code)


def _get_path(message: Message, path: str) -> Any:
    value: Any = message
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _with_field(request: Message, name: str, value: Any) -> Message:
    copy = type(request)()
    copy.CopyFrom(request)
    setattr(copy, name, value)
    return copy


class _Pinned(_Method):
    """Client- and bidi-streaming calls: one endpoint for the life of the stream."""

    def __init__(
        self,
        channel: ServiceChannel,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
        kind: str,
    ) -> None:
        super().__init__(channel, method, serializer, deserializer)
        self._kind = kind

    def __call__(
        self,
        request_iterator: Any = None,
        *,
        timeout: float | None = None,
        metadata: Sequence[tuple[str, Any]] | None = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        channel = self._channel
        md = _metadata(metadata)
        deadline = _deadline(timeout, None)
        # Picking must not block here (stubs call synchronously); endpoints must be known.
        rotation = [c for c in channel._rotation() if c.breaker.available]
        if not rotation:
            raise _unavailable(f"no endpoints available for service {channel.service!r}")
        endpoint = channel.picker.pick([c.endpoint for c in rotation], hash_key=_hash_key(md))
        conn = channel._conns[endpoint.key]
        factory = getattr(conn.channel, self._kind)(self._method, self._ser, self._de)
        call = factory(request_iterator, timeout=_remaining(deadline), metadata=md)
        channel.picker.on_start(conn.endpoint)
        self.started_counter.inc()
        began = time.monotonic()
        call.add_done_callback(
            lambda _call: channel.picker.on_finish(conn.endpoint, time.monotonic() - began, True)
        )
        return call
