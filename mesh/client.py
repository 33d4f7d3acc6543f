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
call, and among those in the caller's own zone while that zone has enough of them
(``mesh.locality``; never for a ring-hash key); failures are retried only when
``RetryPolicy`` allows it (idempotent rpc, or the request never left) and the
per-service ``RetryBudget`` has room; idempotent unary calls may be hedged. A broken
server stream whose rpc declares a resume cursor continues on another endpoint from
the last cursor seen.

Client- and bidi-streaming calls are pinned to one endpoint (ring-hash on the
``x-lilo-affinity-key`` header when the policy is ``ring_hash``) and not retried:
a request stream cannot be replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc import aio
from grpc.aio import _channel as _plain_channels  # see _open_channel
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import context, telemetry
from mesh.background import raise_if_cancelling, stop_task
from mesh.balancing import Endpoint, Picker, RingHash, make_picker
from mesh.breaker import BreakerState, EndpointBreaker, OutlierConfig, OutlierDetector
from mesh.clock import Clock, SystemClock
from mesh.config import LocalityConfig
from mesh.errors import CircuitOpenError, NoEndpointsError
from mesh.locality import count_local, prefer_local, zone_share
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
    removed_endpoint_grace_s: float = 3600.0
    """How long calls already running on an endpoint that left discovery may go on.

    A removed endpoint takes no new calls, but its open streams (an operator's crisis
    feed) are not cut: a lease that lapsed under load is no reason to end them. If the
    instance really went away its server ends them, and resumable streams resume."""
    tls: ClientTls | None = None
    locality: LocalityConfig = field(default_factory=LocalityConfig)
    """Zone-aware picking (``mesh.locality``); inert until ``locality.zone`` is set, e.g.
    from ``mesh.config.locality_config_from_env()``."""
    channel_options: tuple[tuple[str, Any], ...] = (
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    )

    def __post_init__(self) -> None:
        make_picker(self.policy)  # raises ConfigError for an unknown name
        for name in self.service_policies.values():
            make_picker(name)


@dataclass(frozen=True)
class BreakerView:
    """The state of the breaker a client keeps for one endpoint of one service."""

    service: str
    """Fully qualified name of the service the endpoint serves."""
    address: str
    state: BreakerState
    """As ``EndpointBreaker.state`` reads it: an open breaker past its timeout is half_open."""


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

    def breaker_states(self) -> list[BreakerView]:
        """Every breaker this client keeps now, by service then address (read-only).

        Endpoints that left discovery are not listed, even while their last calls run."""
        return [view for _, ch in sorted(self._channels.items()) for view in ch.breaker_states()]

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
        # grpc builds a multicallable per ``channel.unary_unary(...)``: build each once.
        self._callables: dict[str, Any] = {}
        # Open streams, so a removed endpoint is closed only once they have ended.
        self.streams: set[Any] = set()
        self._no_streams = asyncio.Event()
        self._no_streams.set()

        def on_state_change(old: str | None, new: str) -> None:
            telemetry.mesh_breaker_state.labels(owner.service, record.address).set(
                _BREAKER_GAUGE.get(str(new), 0)
            )
            owner.breakers_changed()

        self.breaker = EndpointBreaker(
            record.address,
            fail_max=cfg.breaker_fail_max,
            reset_timeout_s=cfg.breaker_reset_s,
            clock=owner.client._clock,
            on_state_change=on_state_change,
        )
        self.health_task: asyncio.Task[None] | None = None
        if cfg.health_check:
            self.health_task = asyncio.get_running_loop().create_task(
                self._follow_health(owner.service, owner.health_changed)
            )

    def stream_started(self, call: Any) -> None:
        self.streams.add(call)
        self._no_streams.clear()

    def stream_ended(self, call: Any) -> None:
        self.streams.discard(call)
        if not self.streams:
            self._no_streams.set()

    async def retire(self, stream_grace: float, call_grace: float | None) -> None:
        """Close once open streams have ended (at most ``stream_grace`` s); unary calls
        still running then get ``call_grace`` s, as in any graceful channel close."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_streams.wait(), stream_grace)
        await self.close(call_grace)

    def callable_for(self, m: _Method) -> Any:
        """This endpoint's grpc multicallable for ``m``, built on first use."""
        fn = self._callables.get(m._method)
        if fn is None:
            factory = getattr(self.channel, m.kind)
            fn = self._callables[m._method] = factory(
                m._method, m._ser, m._de, _registered_method=m._registered
            )
        return fn

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
    # The un-instrumented constructors: the OpenTelemetry interceptor would add a task
    # per call and a queue per streamed message; ClientSpans traces these calls instead.
    options = list(cfg.channel_options)
    if cfg.tls is None:
        return _plain_channels.insecure_channel(address, options=options)
    from pathlib import Path

    creds = grpc.ssl_channel_credentials(
        root_certificates=Path(cfg.tls.ca_file).read_bytes(),
        private_key=Path(cfg.tls.key_file).read_bytes() if cfg.tls.key_file else None,
        certificate_chain=Path(cfg.tls.cert_file).read_bytes() if cfg.tls.cert_file else None,
    )
    if cfg.tls.server_name_override:
        options.append(("grpc.ssl_target_name_override", cfg.tls.server_name_override))
    return _plain_channels.secure_channel(address, creds, options=options)


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
        # Endpoints that left discovery, closing once their in-flight calls end.
        self._retiring: dict[_Conn, asyncio.Task[None]] = {}
        self._snapshot: Snapshot | None = None
        self._have_snapshot = asyncio.Event()
        self._changed = asyncio.Event()
        # The rotation (serving, healthy, not ejected) changes only on discovery, health
        # or ejection events and when an ejection ends: cached between them, with the
        # endpoints the locality rule leaves to the picker.
        self._cached: tuple[list[_Conn], list[Endpoint], Sequence[Endpoint]] | None = None
        locality = client.config.locality
        self._locality: LocalityConfig | None = locality if locality.active else None
        self._traffic_share = 0.0  # the caller zone's share of this service's calls
        self._cached_until: float | None = None
        self._breakers_not_closed = 0
        self._ready = False  # a first snapshot was applied (_have_snapshot, without a call)
        # Only ring hash reads the affinity header: others skip scanning the metadata.
        self._hashes = isinstance(picker, RingHash)
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
                self._retire(self._conns.pop(key))
        for key, record in live.items():
            if key in self._conns:
                self._conns[key].record = record
            else:
                self._conns[key] = _Conn(self, record)
        if self.outliers is not None:
            self.outliers.set_endpoints(live)
        self.applied_at = time.monotonic()
        self._have_snapshot.set()
        self._ready = True
        self.breakers_changed()
        self.health_changed()

    def _retire(self, conn: _Conn) -> None:
        """Take ``conn`` out of rotation; close it once its in-flight calls have ended."""
        cfg = self.client.config
        task = asyncio.get_running_loop().create_task(
            conn.retire(cfg.removed_endpoint_grace_s, cfg.default_timeout or 30.0)
        )
        self._retiring[conn] = task
        task.add_done_callback(lambda _: self._retiring.pop(conn, None))

    @property
    def retiring(self) -> int:
        """How many removed endpoints still carry in-flight calls."""
        return len(self._retiring)

    def health_changed(self) -> None:
        self._cached = None
        self._changed.set()
        self._changed = asyncio.Event()
        conns, endpoints, preferred = self._cached_rotation()
        telemetry.mesh_endpoints.labels(self.service, "usable").set(len(conns))
        telemetry.mesh_endpoints.labels(self.service, "known").set(len(self._conns))
        if self._locality is not None:
            local = count_local(endpoints, self._locality.zone)
            telemetry.mesh_endpoints.labels(self.service, "local").set(local)
            telemetry.mesh_endpoints.labels(self.service, "preferred").set(len(preferred))

    def breakers_changed(self) -> None:
        self._breakers_not_closed = sum(1 for c in self._conns.values() if not c.breaker.closed)

    def _rotation(self) -> list[_Conn]:
        conns = [c for c in self._conns.values() if c.record.serving and c.healthy]
        if self.outliers is not None:
            admitted = {e.key for e in self.outliers.admitted([c.endpoint for c in conns])}
            conns = [c for c in conns if c.endpoint.key in admitted]
        return conns

    def _cached_rotation(self) -> tuple[list[_Conn], list[Endpoint], Sequence[Endpoint]]:
        cached = self._cached
        if cached is not None and (
            self._cached_until is None or self.client._clock.now() < self._cached_until
        ):
            return cached
        conns = self._rotation()
        endpoints = [c.endpoint for c in conns]
        locality = self._locality
        if locality is not None:
            # Where the calls come from: configured, or estimated from every endpoint known
            # (healthy or not), i.e. the capacity the service was deployed with per zone.
            self._traffic_share = locality.traffic_share or zone_share(
                (c.endpoint for c in self._conns.values()), locality.zone
            )
        self._cached = cached = (conns, endpoints, self._prefer(endpoints))
        self._cached_until = self.outliers.next_return_at() if self.outliers else None
        return cached

    def _prefer(self, endpoints: list[Endpoint]) -> Sequence[Endpoint]:
        """The endpoints the locality rule leaves to the picker (all when it is off)."""
        locality = self._locality
        if locality is None:
            return endpoints
        return prefer_local(
            endpoints,
            locality.zone,
            traffic_share=self._traffic_share,
            min_local_endpoints=locality.min_local_endpoints,
            max_overload=locality.max_overload,
        )

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

    def breaker_states(self) -> list[BreakerView]:
        """The breaker of each endpoint in discovery, by address (see ``MeshClient``)."""
        return sorted(
            (
                BreakerView(self.service, c.record.address, c.breaker.state)
                for c in self._conns.values()
            ),
            key=lambda view: view.address,
        )

    async def wait_for_endpoints(self, count: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``count`` endpoints are in rotation (tests, start-up)."""

        async def until() -> None:
            while len(self._rotation()) < count:
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def _pick(
        self, hash_key: str | None, avoid: set[str] | None, deadline: float | None
    ) -> _Conn:
        if not self._have_snapshot.is_set():
            wait = self.client.config.first_snapshot_timeout
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._have_snapshot.wait(), wait)
        return self._pick_now(hash_key, avoid)

    def _pick_now(self, hash_key: str | None, avoid: set[str] | None) -> _Conn:
        """Pick among the endpoints known now; the hot path (no allocation when all is well)."""
        cached = self._cached
        if cached is None or (
            self._cached_until is not None and self.client._clock.now() >= self._cached_until
        ):
            cached = self._cached_rotation()
        conns, endpoints, preferred = cached
        filtered = False
        if self._breakers_not_closed:
            conns = [c for c in conns if c.breaker.available]
            filtered = True
        if avoid:
            conns = [c for c in conns if c.endpoint.key not in avoid] or conns
            filtered = True
        if not conns:
            raise NoEndpointsError(self.service)
        # A ring-hash key picks from every zone: each client, whatever its zone, must map
        # a key to the same endpoint, so affinity is never filtered by zone.
        hashed = hash_key is not None and self._hashes
        choices: Sequence[Endpoint]
        if filtered:
            # Locality is decided after the breakers and the retry's avoid set: a local
            # endpoint that cannot take this call does not count as local capacity.
            endpoints = [c.endpoint for c in conns]
            choices = endpoints if hashed else self._prefer(endpoints)
        else:
            choices = endpoints if hashed else preferred
        endpoint = self.picker.pick(choices, hash_key=hash_key)
        return self._conns[endpoint.key]

    async def close(self) -> None:
        await stop_task(self._watch)
        retiring = list(self._retiring.items())  # a stopped task drops its own entry
        for _, task in retiring:
            await stop_task(task)
        for conn in [*self._conns.values(), *(conn for conn, _ in retiring)]:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.close(grace=None), 5.0)
        self._conns.clear()
        self._retiring.clear()

    # -- the grpc.aio.Channel surface that generated stubs use -------------------------

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _UnaryUnary:
        return _UnaryUnary(
            self, method, request_serializer, response_deserializer, _registered_method
        )

    def unary_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _UnaryStream:
        return _UnaryStream(
            self, method, request_serializer, response_deserializer, _registered_method
        )

    def stream_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _Pinned:
        return _Pinned(
            self, method, request_serializer, response_deserializer, _registered_method, True
        )

    def stream_stream(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool = False,
    ) -> _Pinned:
        return _Pinned(
            self, method, request_serializer, response_deserializer, _registered_method, False
        )


# -- per-call machinery ----------------------------------------------------------------


def _unavailable(details: str) -> aio.AioRpcError:
    return aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, aio.Metadata(), aio.Metadata(), details)


def _deadline(
    now: float, timeout: float | None, default: float | None, call: context.CallContext | None
) -> float | None:
    """The absolute deadline of an outgoing call: the tightest that applies."""
    deadline = None
    if timeout is not None:
        deadline = now + timeout
    if default is not None and (deadline is None or now + default < deadline):
        deadline = now + default
    handling = None if call is None else call.deadline
    if handling is not None and (deadline is None or handling < deadline):
        deadline = handling
    return deadline


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else _left(deadline, time.monotonic())


def _left(deadline: float, now: float) -> float:
    left = deadline - now
    if left <= 0:
        raise aio.AioRpcError(
            grpc.StatusCode.DEADLINE_EXCEEDED, aio.Metadata(), aio.Metadata(), "deadline exceeded"
        )
    return left


def _metadata(
    given: Sequence[tuple[str, Any]] | None, call: context.CallContext | None
) -> list[tuple[str, Any]]:
    """Caller metadata plus the headers of the call being handled (identity, ids)."""
    out = list(given or ())
    if call is not None and call.forward_metadata:
        present = {k for k, _ in out}
        out.extend((k, v) for k, v in call.forward_metadata if k not in present)
    return out


def _hash_key(metadata: Sequence[tuple[str, Any]]) -> str | None:
    for key, value in metadata:
        if key == AFFINITY_HEADER:
            return str(value)
    return None


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


# What the outlier detector counts against an endpoint.
_OUTLIER_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
)


class _Method:
    """Everything about one method that does not change per call, resolved once."""

    kind = "unary_unary"

    def __init__(
        self,
        channel: ServiceChannel,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
        registered: bool = False,
    ) -> None:
        self._channel = channel
        self._method = method
        self._ser = serializer
        self._de = deserializer
        self._registered = registered
        self.policy: MethodPolicy | None = method_policy(method)
        service, _, name = method.lstrip("/").partition("/")
        cs = bool(self.policy and self.policy.client_streaming)
        ss = bool(self.policy and self.policy.server_streaming)
        self._labels = (telemetry.grpc_type(cs, ss), service, name)
        self.stats = telemetry.client_stats(*self._labels)  # grpc_client_* of this method
        self.spans = telemetry.ClientSpans(method)
        self.default_timeout = channel.client.config.default_timeout
        hedging = channel.client.config.hedging
        self.hedging: HedgingPolicy | None = hedging if self.idempotent else None
        self.retry = channel.client.config.retry
        self.resumable = bool(
            self.policy and self.policy.resume_request_field and self.policy.resume_response_field
        )

    @property
    def idempotent(self) -> bool:
        return bool(self.policy and self.policy.idempotent)

    def _finish(self, conn: _Conn, began: float, code: grpc.StatusCode | None) -> None:
        """One attempt on ``conn`` ended; ``code`` None means it succeeded."""
        channel = self._channel
        channel.picker.on_finish(conn.endpoint, time.monotonic() - began, code is None)
        outliers = channel.outliers
        if outliers is not None and outliers.record(conn.endpoint.key, code not in _OUTLIER_CODES):
            telemetry.mesh_ejections.labels(channel.service, conn.record.address).inc()
            channel.health_changed()


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
        return _UnaryCall(self, request, timeout, metadata)


class _UnaryCall:
    """An awaitable unary call; after it completes, its metadata can be read."""

    __slots__ = ("_deadline", "_last", "_m", "_metadata", "_request", "_started")

    def __init__(
        self,
        method: _UnaryUnary,
        request: Any,
        timeout: float | None,
        metadata: Sequence[tuple[str, Any]] | None,
    ) -> None:
        self._m = method
        self._request = request
        handling = context.current_call.get()
        self._metadata = _metadata(metadata, handling)
        self._started = now = time.monotonic()
        self._deadline = _deadline(now, timeout, method.default_timeout, handling)
        self._last: aio.UnaryUnaryCall[Any, Any] | None = None

    def __await__(self) -> Any:
        return self._run().__await__()

    async def initial_metadata(self) -> aio.Metadata:
        return await self._last.initial_metadata() if self._last else aio.Metadata()

    async def trailing_metadata(self) -> aio.Metadata:
        return await self._last.trailing_metadata() if self._last else aio.Metadata()

    async def _run(self) -> Any:
        m = self._m
        budget = m._channel.budget
        m.stats.started += 1
        budget.request_started()
        code = grpc.StatusCode.OK
        try:
            if m.hedging is not None:
                return await self._hedged(m.hedging)
            # Retries inline (one coroutine less per call): attempts until one succeeds
            # or the policy or the budget says stop.
            channel, policy = m._channel, m.retry
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
                    sent = _was_sent(exc)
                    if not policy.should_retry(attempt, _code(exc), m.idempotent, sent):
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
        except BaseException as exc:
            code = _code(exc)
            if isinstance(exc, (CircuitOpenError, NoEndpointsError)):
                raise _unavailable(str(exc)) from exc
            raise
        finally:
            budget.request_finished()
            m.stats.finished(code, time.monotonic() - self._started)

    async def _attempt(self, avoid: set[str]) -> Any:
        m = self._m
        channel = m._channel
        hash_key = _hash_key(self._metadata) if channel._hashes else None
        if channel._ready:
            conn = channel._pick_now(hash_key, avoid)
        else:
            conn = await channel._pick(hash_key, avoid, self._deadline)
        avoid.add(conn.endpoint.key)
        breaker = conn.breaker
        channel.picker.on_start(conn.endpoint)
        began = time.monotonic()
        admitted = None
        span = None
        try:
            admitted = breaker.admit()
            span, metadata = m.spans.start(self._metadata)
            deadline = self._deadline
            timeout = None if deadline is None else _left(deadline, began)
            call = conn.callable_for(m)(self._request, timeout=timeout, metadata=metadata)
            self._last = call
            response = await call
        except BaseException as exc:
            if admitted is not None:
                breaker.settle(admitted, exc)
            code = _code(exc)
            m._finish(conn, began, code)
            telemetry.ClientSpans.end(span, code, str(exc), exc)
            raise
        breaker.settle(admitted, None)
        m._finish(conn, began, None)
        if span is not None:
            telemetry.ClientSpans.end(span, grpc.StatusCode.OK)
        return response

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
    kind = "unary_stream"

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
        return _StreamCall(self, request, timeout, metadata)


def _final_status(call: Any) -> tuple[grpc.StatusCode, str]:
    """Code and details of a finished grpc.aio call, read without awaiting.

    Both are coroutines that return at once once the call is done; a done callback
    cannot await, so they are stepped by hand.
    """
    return _done_value(call.code(), grpc.StatusCode.UNKNOWN), _done_value(call.details(), "")


def _done_value(coro: Any, default: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()  # pragma: no cover  (only if the call were not done)
    return default


def _stream_done(
    m: _Method,
    conn: _Conn,
    started: float,
    span: Any,
    feed_outliers: bool,
    call: Any,
) -> None:
    """Accounting for a stream handed over as grpc's own call object, once it ends."""
    conn.stream_ended(call)
    code, details = _final_status(call)
    failed = None if code is grpc.StatusCode.OK else code
    if feed_outliers:
        m._finish(conn, started, failed)
    else:
        m._channel.picker.on_finish(conn.endpoint, time.monotonic() - started, failed is None)
    telemetry.ClientSpans.end(span, code, details)
    m.stats.finished(code, time.monotonic() - started)


class _StreamCall:
    """An async-iterable server stream that resumes elsewhere when its contract allows.

    A stream whose rpc declares no resume cursor cannot resume, so iteration is handed
    to grpc's own call (no wrapper per message) and its end is accounted for by a done
    callback.
    """

    def __init__(
        self,
        method: _UnaryStream,
        request: Any,
        timeout: float | None,
        metadata: Sequence[tuple[str, Any]] | None,
    ) -> None:
        self._m = method
        self._request = request
        handling = context.current()
        self._metadata = _metadata(metadata, handling)
        # Streams live as long as their consumer wants: no default deadline.
        self._deadline = _deadline(time.monotonic(), timeout, None, handling)
        self._current: aio.UnaryStreamCall[Any, Any] | None = None
        self._iter: AsyncIterator[Any] | None = None
        self.resumes = 0

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._iter is not None:
            return self._iter  # already started by read(): continue where it is
        m = self._m
        if m.resumable or not m._channel._ready:
            return self._run()
        return self._direct()

    def cancel(self) -> bool:
        return bool(self._current and self._current.cancel())

    async def read(self) -> Any:
        """The next message, or ``grpc.aio.EOF`` at the end (as ``UnaryStreamCall.read``).

        Reading and ``async for`` share one iterator, so they can be mixed.
        """
        if self._iter is None:
            self._iter = self.__aiter__()
        try:
            return await self._iter.__anext__()
        except StopAsyncIteration:
            return aio.EOF

    def _direct(self) -> AsyncIterator[Any]:
        m, channel = self._m, self._m._channel
        m.stats.started += 1
        started = time.monotonic()
        try:
            conn = channel._pick_now(_hash_key(self._metadata) if channel._hashes else None, None)
            timeout = _remaining(self._deadline)
        except BaseException as exc:
            code = _code(exc)
            m.stats.finished(code, time.monotonic() - started)
            if isinstance(exc, NoEndpointsError):
                raise _unavailable(str(exc)) from exc
            raise
        span, metadata = m.spans.start(self._metadata)
        call = conn.callable_for(m)(self._request, timeout=timeout, metadata=metadata)
        self._current = call
        channel.picker.on_start(conn.endpoint)
        conn.stream_started(call)
        call.add_done_callback(functools.partial(_stream_done, m, conn, started, span, True))
        return call.__aiter__()  # type: ignore[no-any-return]

    async def _run(self) -> AsyncIterator[Any]:
        m, channel = self._m, self._m._channel
        policy = m.policy
        resumable = m.resumable
        request: Any = self._request
        cursor: Any = None
        avoid: set[str] = set()
        m.stats.started += 1
        started = time.monotonic()
        code = grpc.StatusCode.OK
        try:
            while True:
                try:
                    conn = await channel._pick(_hash_key(self._metadata), avoid, self._deadline)
                except NoEndpointsError as exc:
                    raise _unavailable(str(exc)) from exc
                avoid = {conn.endpoint.key}
                timeout = _remaining(self._deadline)
                span, metadata = m.spans.start(self._metadata)
                call = conn.callable_for(m)(request, timeout=timeout, metadata=metadata)
                self._current = call
                channel.picker.on_start(conn.endpoint)
                conn.stream_started(call)
                began, error, last = time.monotonic(), None, None
                try:
                    # Per message only the message is kept; its cursor is read on failure.
                    # grpc's own iterator is an async generator over ``_read()``: reading
                    # that directly keeps this generator the only layer per message.
                    read = getattr(call, "_read", None)
                    if read is None:  # pragma: no cover  (a grpcio without it)
                        async for last in call:
                            yield last
                        return
                    while True:
                        message = await read()
                        if message is aio.EOF:
                            await call._raise_for_status()  # as grpc's iterator ends
                            return
                        last = message
                        yield message
                except aio.AioRpcError as exc:
                    error = exc
                    if not (resumable and exc.code() in _RESUMABLE and not call.cancelled()):
                        raise
                    if self.resumes >= 10:
                        raise
                    if last is not None:
                        cursor = _get_path(last, policy.resume_response_field)  # type: ignore[union-attr]
                    log.info(
                        "resuming %s after %s from cursor %r", m._method, exc.code().name, cursor
                    )
                    self.resumes += 1
                    if cursor is not None:
                        request = _with_field(request, policy.resume_request_field, cursor)  # type: ignore[union-attr]
                finally:
                    conn.stream_ended(call)
                    failed = None if error is None else error.code()
                    m._finish(conn, began, failed)
                    telemetry.ClientSpans.end(
                        span,
                        failed or grpc.StatusCode.OK,
                        "" if error is None else (error.details() or ""),
                        error,
                    )
        except BaseException as exc:
            code = _code(exc)
            raise
        finally:
            m.stats.finished(code, time.monotonic() - started)


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
    """Client- and bidi-streaming calls: one endpoint for the life of the stream.

    The caller gets grpc's own call object (reads and writes go straight to it); the
    mesh's accounting runs in a done callback.
    """

    def __init__(
        self,
        channel: ServiceChannel,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
        registered: bool,
        unary_response: bool,
    ) -> None:
        super().__init__(channel, method, serializer, deserializer, registered)
        self.kind = "stream_unary" if unary_response else "stream_stream"

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
        handling = context.current()
        md = _metadata(metadata, handling)
        started = time.monotonic()
        deadline = _deadline(started, timeout, None, handling)
        # Picking must not block here (stubs call synchronously); endpoints must be known.
        try:
            conn = channel._pick_now(_hash_key(md), None)
        except NoEndpointsError:
            raise _unavailable(f"no endpoints available for service {channel.service!r}") from None
        timeout_left = _remaining(deadline)
        span, md = self.spans.start(md)
        call = conn.callable_for(self)(request_iterator, timeout=timeout_left, metadata=md)
        channel.picker.on_start(conn.endpoint)
        conn.stream_started(call)
        self.stats.started += 1
        # Pinned streams do not feed outlier detection (a broken bidi says more about
        # its conversation than about the endpoint).
        call.add_done_callback(functools.partial(_stream_done, self, conn, started, span, False))
        return call
