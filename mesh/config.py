"""Mesh configuration: frozen, validated when built, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesh.errors import ConfigError
from mesh.registry.base import DEFAULT_TTL_S

if TYPE_CHECKING:
    from mesh.client import ClientTls

DEFAULT_METRICS_REPORT_INTERVAL_S = 5.0


@dataclass(frozen=True, kw_only=True)
class TlsConfig:
    """Server TLS; with ``client_ca`` set, callers must present a certificate (mTLS)."""

    cert_file: str
    key_file: str
    client_ca_file: str = ""
    trusted_callers: frozenset[str] = frozenset()
    """Service identities (certificate common names) allowed to call; empty means any."""


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How one service process listens, registers and drains."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port (tests, several local instances)."""
    advertise_host: str = ""
    """Host other instances use to reach this one; defaults to ``host``."""
    instance_id: str = ""
    version: str = "0.1.0"
    zone: str = "local"
    weight: int = 100
    metadata: Mapping[str, str] = field(default_factory=dict)
    lease_ttl: float = DEFAULT_TTL_S
    drain_grace: float = 10.0
    """In-flight calls get this long to finish during a graceful drain."""
    max_message_bytes: int = 8 * 1024 * 1024
    keepalive_time_ms: int = 30_000
    max_connection_age_ms: int = 300_000
    """Connections are recycled so clients rebalance onto new instances."""
    tls: TlsConfig | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ConfigError(f"port out of range: {self.port}")
        if self.lease_ttl <= 0 or self.drain_grace < 0:
            raise ConfigError("lease_ttl must be positive and drain_grace not negative")
        if self.weight <= 0:
            raise ConfigError(f"weight must be positive: {self.weight}")

    def grpc_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.keepalive_time_ms", self.keepalive_time_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.max_connection_age_ms", self.max_connection_age_ms),
            ("grpc.max_connection_age_grace_ms", int(self.drain_grace * 1000)),
        ]


def registry_url_from_env(env: Mapping[str, str] | None = None) -> str:
    """``LILO_REGISTRY_URL``, else ``REDIS_URL``, else the in-memory registry."""
    env = os.environ if env is None else env
    return env.get("LILO_REGISTRY_URL") or env.get("REDIS_URL") or "memory://"


def server_config_from_env(default_port: int, env: Mapping[str, str] | None = None) -> ServerConfig:
    """Build a ``ServerConfig`` from ``LILO_*`` variables; raise ``ConfigError`` on bad values."""
    env = os.environ if env is None else env
    try:
        tls = None
        if env.get("LILO_TLS_CERT"):
            tls = TlsConfig(
                cert_file=env["LILO_TLS_CERT"],
                key_file=env["LILO_TLS_KEY"],
                client_ca_file=env.get("LILO_TLS_CLIENT_CA", ""),
                trusted_callers=frozenset(
                    c for c in env.get("LILO_TRUSTED_CALLERS", "").split(",") if c
                ),
            )
        return ServerConfig(
            host=env.get("LILO_HOST", "127.0.0.1"),
            port=int(env.get("LILO_PORT", default_port)),
            advertise_host=env.get("LILO_ADVERTISE_HOST", ""),
            instance_id=env.get("LILO_INSTANCE_ID", ""),
            version=env.get("LILO_VERSION", "0.1.0"),
            zone=env.get("LILO_ZONE", "local"),
            weight=int(env.get("LILO_WEIGHT", 100)),
            lease_ttl=float(env.get("LILO_LEASE_TTL", DEFAULT_TTL_S)),
            drain_grace=float(env.get("LILO_DRAIN_GRACE", 10.0)),
            tls=tls,
        )
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"bad mesh configuration in environment: {exc}") from exc


def client_tls_from_env(env: Mapping[str, str] | None = None) -> ClientTls | None:
    """TLS for this process's outgoing mesh calls, or None for plaintext.

    ``LILO_TLS_CA`` (the CA that signs the servers) turns it on; ``LILO_TLS_CERT`` and
    ``LILO_TLS_KEY`` (the same files a service serves with) are then presented as the
    client certificate, so every call carries this process's service identity (mTLS).
    """
    env = os.environ if env is None else env
    ca = env.get("LILO_TLS_CA", "")
    if not ca:
        return None
    cert, key = env.get("LILO_TLS_CERT", ""), env.get("LILO_TLS_KEY", "")
    if bool(cert) != bool(key):
        raise ConfigError("LILO_TLS_CERT and LILO_TLS_KEY must be set together")
    for name, path in (("LILO_TLS_CA", ca), ("LILO_TLS_CERT", cert), ("LILO_TLS_KEY", key)):
        if path and not os.path.isfile(path):
            raise ConfigError(f"{name} names a file that does not exist: {path}")
    from mesh.client import ClientTls

    return ClientTls(ca_file=ca, cert_file=cert, key_file=key)


def metrics_report_interval_from_env(env: Mapping[str, str] | None = None) -> float:
    """``LILO_METRICS_REPORT_INTERVAL`` in seconds (default 5); ``0`` turns reporting off."""
    env = os.environ if env is None else env
    text = env.get("LILO_METRICS_REPORT_INTERVAL", "").strip()
    if not text:
        return DEFAULT_METRICS_REPORT_INTERVAL_S
    try:
        interval = float(text)
    except ValueError:
        raise ConfigError(f"LILO_METRICS_REPORT_INTERVAL is not a number: {text!r}") from None
    if interval < 0 or interval != interval:
        raise ConfigError(f"LILO_METRICS_REPORT_INTERVAL must not be negative: {text!r}")
    return interval
