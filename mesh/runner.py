"""The one launcher every service uses: ``python -m services.<name>``.

Configuration comes from the environment, read here and nowhere else:

===============================  ==========================================================
``REDIS_URL``                    discovery (and pub/sub) backend; unset = in-memory registry
``DATABASE_URL``                 PostgreSQL for services that keep state
``LILO_JWKS_FILE``               public keys that verify access tokens (written by auth)
``LILO_TLS_CERT``/``_KEY``       this service's certificate and key: served with, and
                                 presented as its client certificate on outgoing calls;
                                 its common name must be the service's ``name``
``LILO_TLS_CLIENT_CA``           CA that callers' certificates must chain to (mTLS on)
``LILO_TLS_CA``                  CA that signs the servers this service calls; set, every
                                 outgoing mesh call uses TLS with the certificate above
``LILO_TRUSTED_CALLERS``         optional comma-separated certificate names allowed to
                                 connect at all (unset: any certificate of the client CA)
``LILO_METRICS_REPORT_INTERVAL`` seconds between metrics samples (default 5; 0 = off)
``LILO_EVENT_LOOP``              ``uvloop`` (default) or ``asyncio`` (``mesh.eventloop``)
``LILO_PORT`` ...                see ``mesh.config.server_config_from_env``
===============================  ==========================================================

A service module provides ``build(deps) -> list[servicer]`` and calls
``run(name, build, ...)``; the launcher connects what the service needs, applies
its migrations, serves it through ``MeshServer`` and drains on SIGTERM/SIGINT.

With a client certificate, every service but ``metrics`` streams its request
counts and latency histograms to the metrics service (``mesh.reporter``),
authenticated by that certificate alone; the reporter stops before the drain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from mesh import eventloop
from mesh.access import AccessFacts, NoFacts, TokenAccessController
from mesh.client import ClientConfig, MeshClient
from mesh.clock import Clock, SystemClock
from mesh.config import (
    ServerConfig,
    client_tls_from_env,
    locality_config_from_env,
    metrics_report_interval_from_env,
    registry_url_from_env,
    server_config_from_env,
)
from mesh.db import create_pool, migrate
from mesh.errors import ConfigError
from mesh.gctune import tune_gc
from mesh.identity.tokens import TokenVerifier
from mesh.interceptors import AuditSink
from mesh.registry import Registry, registry_from_url
from mesh.reporter import MetricsReporter
from mesh.server import MeshServer
from mesh.telemetry import configure_logging
from mesh.tls import certificate_identity

log = logging.getLogger(__name__)

ISSUER = "lilo-auth"
AUDIENCE = "lilo-mesh"
METRICS_IDENTITY = "metrics"
# Every instance serves the registry admin API; its traffic is not the service's own.
_ADMIN_SERVICE = "lilo.discovery.v1.DiscoveryService"


@dataclass(kw_only=True)
class ServiceDeps:
    """What a service's ``build`` gets: connections, a mesh client, the clock."""

    name: str
    registry: Registry
    client: MeshClient
    clock: Clock = field(default_factory=SystemClock)
    db: asyncpg.Pool | None = None
    redis: aioredis.Redis | None = None
    verifier: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


def _read_jwks(path: str) -> TokenVerifier:
    try:
        jwks = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read JWKS from {path}: {exc}") from exc
    return TokenVerifier.from_jwks(ISSUER, AUDIENCE, jwks)


class ReloadingVerifier:
    """A verifier that follows the auth service's key rotations via its JWKS file.

    The file is checked at most once per ``interval`` seconds (one ``stat``); a
    changed file is re-read, so services need no restart when auth rotates keys.
    A file that cannot be read keeps the last good key set.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self._verifier = _read_jwks(path)
        self._mtime = os.stat(path).st_mtime_ns
        self._checked = time.monotonic()

    def verify(self, token: str, now: float) -> Any:
        if time.monotonic() - self._checked >= self._interval:
            self._checked = time.monotonic()
            try:
                mtime = os.stat(self._path).st_mtime_ns
                if mtime != self._mtime:
                    self._verifier, self._mtime = _read_jwks(self._path), mtime
            except (OSError, ConfigError) as exc:
                log.warning("keeping the last JWKS: %s", exc)
        return self._verifier.verify(token, now)


def load_verifier(path: str | None = None) -> Any:
    """The token verifier for the JWKS file the auth service publishes (follows rotations)."""
    path = path or os.environ.get("LILO_JWKS_FILE", "")
    if not path:
        raise ConfigError("LILO_JWKS_FILE is not set: services cannot verify access tokens")
    if not os.path.exists(path):
        raise ConfigError(f"JWKS file {path} does not exist yet: start the auth service first")
    return ReloadingVerifier(path)


Build = Callable[[ServiceDeps], Awaitable[list[object]]]


@dataclass
class RunningService:
    """A started service: its server and, when it has a service identity, its reporter."""

    server: MeshServer
    reporter: MetricsReporter | None = None

    async def drain(self) -> None:
        """Stop reporting, then drain the server (its in-flight calls get the grace)."""
        await self.stop_reporting()
        await self.server.drain()

    async def stop_reporting(self) -> None:
        if self.reporter is not None:
            await self.reporter.stop()
            self.reporter = None

    async def wait_stopped(self) -> None:
        """Until the server stops (by ``drain`` or the Drain rpc); then reporting stops too."""
        await self.server.wait_stopped()
        await self.stop_reporting()


def _check_identity(name: str, config: ServerConfig) -> None:
    """A certificate naming another service would give every outgoing call its rights."""
    if config.tls is None:
        return
    try:
        identity = certificate_identity(config.tls.cert_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read LILO_TLS_CERT {config.tls.cert_file}: {exc}") from exc
    if identity != name:
        raise ConfigError(
            f"LILO_TLS_CERT is issued to {identity!r} but this service runs as {name!r}"
        )


def start_reporter(
    name: str, server: MeshServer, client: MeshClient, interval: float
) -> MetricsReporter | None:
    """Start streaming this process's metrics, or say why not and return None."""
    if name == METRICS_IDENTITY or interval <= 0:
        return None
    tls = client.config.tls
    if tls is None or not tls.cert_file:
        log.info("metrics reporter off: no client certificate (set LILO_TLS_CA/CERT/KEY)")
        return None
    services = [s for s in server.services if s != _ADMIN_SERVICE]
    reporter = MetricsReporter(client, services, server.instance_id, interval=interval)
    reporter.start()
    return reporter


async def serve_service(
    name: str,
    build: Build,
    *,
    default_port: int,
    migrations: Path | None = None,
    needs_db: bool = False,
    needs_redis: bool = False,
    facts: Callable[[ServiceDeps], AccessFacts] | None = None,
    audit: Callable[[ServiceDeps], AuditSink] | None = None,
    verifier: Any = None,
) -> RunningService:
    """Connect, migrate, build and start one service (and its metrics reporter)."""
    config = server_config_from_env(default_port)
    _check_identity(name, config)
    interval = metrics_report_interval_from_env()
    registry = registry_from_url(registry_url_from_env())
    client = MeshClient(
        registry, ClientConfig(tls=client_tls_from_env(), locality=locality_config_from_env())
    )
    deps = ServiceDeps(name=name, registry=registry, client=client)
    if needs_db or migrations is not None:
        url = os.environ.get("DATABASE_URL", "")
        if not url:
            raise ConfigError(f"{name} needs DATABASE_URL")
        deps.db = await create_pool(url)
        if migrations is not None:
            await migrate(deps.db, name, migrations)
    if needs_redis:
        url = os.environ.get("REDIS_URL", "")
        if not url:
            raise ConfigError(f"{name} needs REDIS_URL")
        deps.redis = aioredis.Redis.from_url(url)
    deps.verifier = verifier or load_verifier()
    servicers = await build(deps)
    access = TokenAccessController(
        verifier=deps.verifier,
        facts=facts(deps) if facts else NoFacts(),
        clock=deps.clock,
        # LILO_TRUSTED_CALLERS narrows which certificates may connect at all.
        trusted_peers=(config.tls.trusted_callers or None) if config.tls else None,
    )
    server = MeshServer(
        servicers,
        registry=registry,
        access=access,
        audit=audit(deps) if audit else None,
        config=config,
    )
    await server.start()
    return RunningService(server, start_reporter(name, server, client, interval))


def run(name: str, build: Build, **kwargs: Any) -> None:
    """The body of a service's ``__main__``: serve until SIGTERM/SIGINT, then drain.

    Once the service is built and listening, the garbage collector is tuned
    (``mesh.gctune``): everything alive at that point is frozen out of collections.
    The loop is uvloop unless ``LILO_EVENT_LOOP=asyncio`` (``mesh.eventloop``)."""
    configure_logging(os.environ.get("LILO_LOG_LEVEL", "INFO"))

    async def main() -> None:
        import signal

        service = await serve_service(name, build, **kwargs)
        tune_gc()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(service.drain()))
        kind = type(loop).__module__.partition(".")[0]  # "uvloop" or "asyncio"
        log.info("%s serving on %s (%s event loop)", name, service.server.address, kind)
        print(f"READY {name} {service.server.address}", flush=True)
        await service.wait_stopped()

    try:
        eventloop.run(main)
    except ConfigError as exc:
        log.error("%s cannot start: %s", name, exc)
        raise SystemExit(2) from None
