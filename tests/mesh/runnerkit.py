"""Services started by the real runner (``mesh.runner.serve_service``) over mTLS, each
with its own certificate from one dev CA, as ``scripts/up`` starts them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lilo.echo.v1 import echo_service_pb2 as echo_pb
from lilo.echo.v1 import echo_service_pb2_grpc as echo_grpc

from mesh.client import ClientConfig, ClientTls, MeshClient
from mesh.identity.tokens import KeySet
from mesh.registry.base import Registry
from mesh.runner import AUDIENCE, ISSUER, RunningService, ServiceDeps, serve_service
from mesh.testing import TestIdentity
from mesh.tls import DevCA, Issued


async def echo_over(
    registry: Registry,
    tls: ClientTls,
    *,
    health_check: bool = True,
    deadline_s: float | None = None,
) -> echo_pb.EchoResponse:
    """One Echo call through a fresh mesh client presenting ``tls``, closed afterwards.

    A handshake the certificates do not allow raises the call's ``AioRpcError``
    (UNAVAILABLE)."""
    client = MeshClient(registry, ClientConfig(tls=tls, health_check=health_check))
    try:
        channel = client.channel("lilo.echo.v1.EchoService")
        await channel.wait_for_endpoints(1)
        request = echo_pb.EchoRequest(payload="p")
        reply: echo_pb.EchoResponse = await echo_grpc.EchoServiceStub(channel).Echo(
            request, timeout=deadline_s
        )
        return reply
    finally:
        await client.close()


class MtlsServices:
    """Sets the runner's environment (registry, mTLS, a fast metrics report interval) and
    starts services by name; ``clients`` holds each started service's mesh client."""

    def __init__(
        self,
        tmp_path: Path,
        redis_url: str,
        monkeypatch: pytest.MonkeyPatch,
        names: tuple[str, ...],
        ident: TestIdentity,
    ) -> None:
        self.ca = DevCA(tmp_path)
        self.certs: dict[str, Issued] = {name: self.ca.issue(name) for name in names}
        self.ident = ident
        self.clients: dict[str, MeshClient] = {}
        self._monkeypatch = monkeypatch
        for name, value in {
            "LILO_REGISTRY_URL": redis_url,
            "LILO_PORT": "0",
            "LILO_LEASE_TTL": "5",
            "LILO_DRAIN_GRACE": "1",
            "LILO_TLS_CLIENT_CA": str(self.ca.ca_file),
            "LILO_TLS_CA": str(self.ca.ca_file),
            "LILO_METRICS_REPORT_INTERVAL": "0.2",
        }.items():
            monkeypatch.setenv(name, value)

    async def start(self, name: str, servicer: object) -> RunningService:
        """``name`` as its own service identity, instance ``<name>-1``."""
        self._monkeypatch.setenv("LILO_TLS_CERT", str(self.certs[name].cert_file))
        self._monkeypatch.setenv("LILO_TLS_KEY", str(self.certs[name].key_file))
        self._monkeypatch.setenv("LILO_INSTANCE_ID", f"{name}-1")

        async def build(deps: ServiceDeps) -> list[object]:
            self.clients[name] = deps.client  # the client the service calls out with
            return [servicer]

        return await serve_service(name, build, default_port=0, verifier=self.ident.keys.verifier())


ROOT = Path(__file__).resolve().parents[2]


def runner_child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a child that calls ``mesh.runner.run``: a JWKS file, any free port,
    in-memory discovery, no metrics reporting, quiet logs; ``extra`` on top. The caller's
    ``LILO_EVENT_LOOP`` is not inherited (the runner's default applies unless given)."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(KeySet(ISSUER, AUDIENCE, time.time()).jwks()))
    env = {k: v for k, v in os.environ.items() if k != "LILO_EVENT_LOOP"}
    env.update(
        LILO_JWKS_FILE=str(jwks),
        LILO_PORT="0",
        LILO_REGISTRY_URL="memory://",
        LILO_METRICS_REPORT_INTERVAL="0",
        LILO_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -c CODE`` from the repository root, output captured, at most 60 s."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
