"""Gateway configuration: one frozen value, read from the environment in one place.

``GatewayConfig.from_env`` raises ``ValueError`` with the variable's name on a bad value, so
``python -m gateway_rest`` refuses to start instead of running with a surprise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PORT = 8090


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """How the gateway calls backends and talks to browsers."""

    default_timeout: float | None = 30.0
    """Deadline of a unary call when the request has no ``Grpc-Timeout`` header (None: none)."""
    max_timeout: float | None = 300.0
    """``Grpc-Timeout`` values above this are cut to it (None: no cap)."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call cross-origin; empty: no CORS headers at all. ``*`` allows any."""
    ignore_unknown_fields: bool = False
    """Ignore unknown JSON fields and query parameters instead of answering 400."""
    sse_keepalive_s: float = 15.0
    """Seconds between SSE comment lines that keep proxies from closing an idle stream."""
    ws_queue_size: int = 16
    """Messages buffered from a gRPC stream towards one WebSocket before reading pauses."""
    ready_wait_s: float = 1.0
    """How long /health/ready waits for discovery to report a new service's endpoints."""
    console: bool = True
    """Serve the operator console at /console."""

    def __post_init__(self) -> None:
        for name in ("default_timeout", "max_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, got {value}")
        if self.sse_keepalive_s <= 0:
            raise ValueError(f"sse_keepalive_s must be positive, got {self.sse_keepalive_s}")
        if self.ws_queue_size < 1:
            raise ValueError(f"ws_queue_size must be at least 1, got {self.ws_queue_size}")

    def cap_timeout(self, requested: float | None) -> float | None:
        """The deadline a unary call gets: the requested one (capped) or the default."""
        if requested is None:
            return self.default_timeout
        if self.max_timeout is not None:
            return min(requested, self.max_timeout)
        return requested

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewayConfig:
        """Read ``LILO_CORS_ORIGINS`` (comma-separated), ``LILO_GATEWAY_DEFAULT_TIMEOUT``
        (seconds, ``0`` or ``none`` for no deadline), ``LILO_GATEWAY_IGNORE_UNKNOWN_FIELDS``
        (``1``/``true``), ``LILO_GATEWAY_SSE_KEEPALIVE`` and ``LILO_GATEWAY_WS_QUEUE``."""
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get("LILO_CORS_ORIGINS", "").split(",") if o.strip())
        timeout_text = env.get("LILO_GATEWAY_DEFAULT_TIMEOUT", "30").strip().lower()
        try:
            timeout = None if timeout_text in ("", "0", "none") else float(timeout_text)
        except ValueError:
            raise ValueError(
                f"LILO_GATEWAY_DEFAULT_TIMEOUT is not a number: {timeout_text!r}"
            ) from None
        ignore = env.get("LILO_GATEWAY_IGNORE_UNKNOWN_FIELDS", "").strip().lower()
        try:
            keepalive = float(env.get("LILO_GATEWAY_SSE_KEEPALIVE", "15"))
            queue = int(env.get("LILO_GATEWAY_WS_QUEUE", "16"))
        except ValueError as exc:
            raise ValueError(f"bad gateway setting in environment: {exc}") from None
        return cls(
            default_timeout=timeout,
            cors_origins=origins,
            ignore_unknown_fields=ignore in ("1", "true", "yes"),
            sse_keepalive_s=keepalive,
            ws_queue_size=queue,
        )


def port_from_env(env: Mapping[str, str] | None = None) -> int:
    """``LILO_GATEWAY_PORT``, default 8090."""
    env = os.environ if env is None else env
    text = env.get("LILO_GATEWAY_PORT", str(DEFAULT_PORT))
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"LILO_GATEWAY_PORT is not a port number: {text!r}") from None
    if not 0 <= port < 65536:
        raise ValueError(f"LILO_GATEWAY_PORT out of range: {port}")
    return port
