"""One way to build and run a Lilo service: ``MeshServer``.

It serves the given servicers with health and reflection, behind the mesh
interceptor (error mapping -> deadline -> auth -> audit -> metrics, with
OpenTelemetry tracing in front), registers every service in discovery under a
lease, heartbeats, and drains gracefully:

    NOT_SERVING (health + registry) -> deregister -> in-flight calls finish
    within the grace period -> stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh import telemetry
from mesh.background import raise_if_cancelling, stop_task
from mesh.config import ServerConfig, TlsConfig
from mesh.errors import ConfigError, RegistryUnavailable
from mesh.health import HealthServicer
from mesh.interceptors import AccessController, AuditSink, MeshServerInterceptor
from mesh.registry.base import InstanceRecord, Registry, ServingStatus

log = logging.getLogger(__name__)


def describe_servicer(servicer: object) -> tuple[str, Callable[[Any, Any], None]]:
    """Find the service name and ``add_*_to_server`` function of a generated servicer."""
    for cls in type(servicer).__mro__:
        module_name = cls.__module__
        if module_name.endswith("_pb2_grpc") and cls.__name__.endswith("Servicer"):
            module = importlib.import_module(module_name)
            pb2 = importlib.import_module(module_name.removesuffix("_grpc"))
            short = cls.__name__.removesuffix("Servicer")
            add = getattr(module, f"add_{cls.__name__}_to_server")
            return pb2.DESCRIPTOR.services_by_name[short].full_name, add
    raise ConfigError(f"{type(servicer).__name__} does not extend a generated *Servicer class")


def _server_credentials(tls: TlsConfig) -> grpc.ServerCredentials:
    """TLS credentials; with a client CA, callers must present a certificate (mTLS)."""
    return grpc.ssl_server_credentials(
        [(Path(tls.key_file).read_bytes(), Path(tls.cert_file).read_bytes())],
        root_certificates=Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None,
        require_client_auth=bool(tls.client_ca_file),
    )


class MeshServer:
    """A grpc.aio server that is a citizen of the mesh. Create and use it on one loop."""

    def __init__(
        self,
        servicers: Sequence[object],
        *,
        registry: Registry,
        access: AccessController,
        audit: AuditSink | None = None,
        config: ServerConfig | None = None,
    ) -> None:
        if not servicers:
            raise ConfigError("a MeshServer needs at least one servicer")
        self.config = config or ServerConfig()
        self._registry = registry
        self.instance_id = self.config.instance_id or uuid.uuid4().hex[:12]
        from services.discovery.servicer import DiscoveryServicer

        # Every instance serves the registry API; its Drain drains this instance.
        admin = DiscoveryServicer(registry, instance_id=self.instance_id, drain=self.drain)
        self._bindings = [(describe_servicer(s), s) for s in [*servicers, admin]]
        self.services = [name for (name, _), _ in self._bindings]
        self._health = HealthServicer()
        self._interceptor = MeshServerInterceptor(access, audit)
        self._server: aio.Server | None = None
        self._status = ServingStatus.SERVING
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self.port = 0

    @property
    def address(self) -> str:
        host = self.config.advertise_host or self.config.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        telemetry.instrument_grpc()  # must precede server creation
        server = aio.server(interceptors=[self._interceptor], options=self.config.grpc_options())
        for (_, add), servicer in self._bindings:
            add(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [
                *(name for (name, _), _ in self._bindings),
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        bind = f"{self.config.host}:{self.config.port}"
        tls = self.config.tls
        if tls is None:
            self.port = server.add_insecure_port(bind)
        else:
            creds = _server_credentials(tls)
            self.port = server.add_secure_port(bind, creds)
        await server.start()
        self._server = server
        await self._set_health(serving=True)
        await self._register()
        self._heartbeat = asyncio.get_running_loop().create_task(self._heartbeat_forever())
        log.info(
            "serving %s on %s",
            ",".join(self.services),
            self.address,
            extra={"instance_id": self.instance_id},
        )

    def records(self) -> list[InstanceRecord]:
        return [
            InstanceRecord(
                service=name,
                instance_id=self.instance_id,
                address=self.address,
                version=self.config.version,
                zone=self.config.zone,
                weight=self.config.weight,
                metadata=dict(self.config.metadata),
                status=self._status,
            )
            for name in self.services
        ]

    async def set_serving(self, serving: bool) -> None:
        """Flip health and the registry record, e.g. while a dependency is down."""
        self._status = ServingStatus.SERVING if serving else ServingStatus.NOT_SERVING
        await self._set_health(serving)
        await self._register()

    async def drain(self, grace: float | None = None) -> None:
        """Stop taking new calls, leave discovery, let in-flight calls finish, stop."""
        if self._server is None or self._stopped.is_set():
            return
        grace = self.config.drain_grace if grace is None else grace
        self._status = ServingStatus.DRAINING
        await self._set_health(serving=False)
        with contextlib.suppress(RegistryUnavailable):
            await self._register()  # watchers see DRAINING at once...
        if self._heartbeat is not None:
            await stop_task(self._heartbeat)
        for name in self.services:  # ...and then the instance is gone
            with contextlib.suppress(RegistryUnavailable):
                await self._registry.deregister(name, self.instance_id)
        await self._server.stop(grace)
        self._stopped.set()
        log.info("drained and stopped", extra={"instance_id": self.instance_id})

    async def stop(self) -> None:
        """Stop at once: a crash-like stop that does not deregister (for tests)."""
        if self._stopped.is_set():
            return
        if self._heartbeat is not None:
            await stop_task(self._heartbeat)
        if self._server is not None:
            await self._server.stop(None)
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def run_until_signal(self) -> None:
        """Start, then drain on SIGINT or SIGTERM. The ``python -m services.X`` entry point."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.drain()))
        await self._stopped.wait()

    async def _set_health(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self._health.set("", status)
        for name in self.services:
            await self._health.set(name, status)

    async def _register(self) -> None:
        for record in self.records():
            await self._registry.heartbeat(record, self.config.lease_ttl)

    async def _heartbeat_forever(self) -> None:
        interval = self.config.lease_ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self._register()
            except RegistryUnavailable as exc:
                raise_if_cancelling()
                # Keep serving; the next heartbeat re-registers once the registry is back.
                log.warning("heartbeat failed: %s", exc, extra={"instance_id": self.instance_id})
