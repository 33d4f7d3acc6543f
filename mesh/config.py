"""Mesh configuration: frozen, validated when built, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mesh.errors import ConfigError
from mesh.locality import DEFAULT_MAX_OVERLOAD
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


@dataclass(frozen=True, kw_only=True)
class LocalityConfig:
    """Zone-aware picking in a ``MeshClient`` (the rule: ``mesh.locality``).

    On by default but inert until ``zone`` is set; with a zone it changes nothing while
    every endpoint is in the caller's zone or in no known zone, so single-zone
    deployments pick exactly as without it. Calls carrying a ring-hash affinity key are
    never filtered (every client must see the same ring).
    """

    enabled: bool = True
    zone: str = ""
    """The caller's own zone (``LILO_ZONE``); "" means unknown and turns the preference off."""
    min_local_endpoints: int = 1
    """Fewer usable endpoints than this in the caller's zone: spill over to every zone."""
    max_overload: float = DEFAULT_MAX_OVERLOAD
    """Stay local only while the local endpoints would run at most this many times hotter
    per unit of weight than the service's average (>= 1; ``inf`` turns that rule off)."""
    traffic_share: float | None = None
    """Share of each service's calls that come from ``zone`` (0 < s <= 1). None estimates
    it per service as the zone's share of the weight of every endpoint known for it."""

    def __post_init__(self) -> None:
        if self.min_local_endpoints < 1:
            raise ConfigError(
                f"locality min_local_endpoints must be >= 1, got {self.min_local_endpoints}"
            )
        # ``not x >= 1`` also refuses NaN; ``inf`` is allowed (spill only below the minimum).
        if not self.max_overload >= 1.0:
            raise ConfigError(
                f"locality max_overload must be a number >= 1, got {self.max_overload}"
            )
        share = self.traffic_share
        if share is not None and not 0.0 < share <= 1.0:
            raise ConfigError(f"locality traffic_share must be in (0, 1], got {share}")

    @property
    def active(self) -> bool:
        """Whether the client filters by zone at all."""
        return self.enabled and bool(self.zone)


_ON = frozenset({"1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no"})


def locality_config_from_env(env: Mapping[str, str] | None = None) -> LocalityConfig:
    """Zone-aware picking for this process's clients, from ``LILO_*`` variables.

    ``LILO_ZONE`` (the process's own zone, default "local" as for ``ServerConfig``),
    ``LILO_LOCALITY`` (on/off, default on), ``LILO_LOCALITY_MIN_ENDPOINTS`` (default 1),
    ``LILO_LOCALITY_MAX_OVERLOAD`` (default 1.25) and ``LILO_LOCALITY_TRAFFIC_SHARE``
    (unset: estimated). Raises ``ConfigError`` naming the variable on a bad value.
    """
    env = os.environ if env is None else env
    switch = env.get("LILO_LOCALITY", "on").strip().lower()
    if switch not in _ON | _OFF:
        raise ConfigError(f"LILO_LOCALITY must be on or off, got {switch!r}")

    def number(name: str, parse: type[int] | type[float], default: str) -> float:
        text = env.get(name, "").strip() or default
        try:
            return parse(text)
        except ValueError:
            raise ConfigError(f"{name} is not a number: {text!r}") from None

    min_local = int(number("LILO_LOCALITY_MIN_ENDPOINTS", int, "1"))
    overload = number("LILO_LOCALITY_MAX_OVERLOAD", float, str(DEFAULT_MAX_OVERLOAD))
    share_text = env.get("LILO_LOCALITY_TRAFFIC_SHARE", "").strip()
    share = number("LILO_LOCALITY_TRAFFIC_SHARE", float, "") if share_text else None
    try:
        return LocalityConfig(
            enabled=switch in _ON,
            zone=env.get("LILO_ZONE", "local"),  # as ServerConfig reads it: the same string
            min_local_endpoints=min_local,
            max_overload=overload,
            traffic_share=share,
        )
    except ConfigError as exc:
        raise ConfigError(f"bad LILO_LOCALITY_* value in environment: {exc}") from None


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
