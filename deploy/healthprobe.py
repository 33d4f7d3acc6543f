"""Kubernetes exec probe: a grpc.health.v1 Check of this pod's own server, over mTLS.

    python -m deploy.healthprobe [--service NAME] [--port PORT] [--timeout SECONDS]

Kubelet's native gRPC probe speaks plaintext only, and a service that requires client
certificates refuses it at the handshake. This probe runs inside the container with the
container's environment, so it presents the pod's own certificate (``LILO_TLS_CERT`` /
``LILO_TLS_KEY``, which every mesh CA certificate may) and verifies the server against
``LILO_TLS_CA`` by ``localhost``, which ``mesh.tls`` puts in every certificate it
issues. Without ``LILO_TLS_CA`` it checks in plaintext. The port is ``LILO_PORT``.

Exit status: 0 when the server answers SERVING for ``--service`` (empty: the server as a
whole), 1 otherwise (NOT_SERVING, unknown service, refused, timed out), 2 when the
probe itself is misconfigured. One line on stderr says why it failed: kubelet shows it
in the pod's events.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

EXIT_SERVING, EXIT_UNHEALTHY, EXIT_CONFIG = 0, 1, 2
# The name the probe verifies the server's certificate by; mesh.tls always issues it.
LOCAL_NAME = "localhost"


class ProbeConfigError(Exception):
    """The probe cannot run: a missing port or unreadable TLS files."""


def channel_for(port: int, env: Mapping[str, str]) -> grpc.Channel:
    """A channel to this pod's server: mTLS when ``LILO_TLS_CA`` is set, else plaintext."""
    target = f"127.0.0.1:{port}"
    ca = env.get("LILO_TLS_CA", "")
    if not ca:
        return grpc.insecure_channel(target)
    cert, key = env.get("LILO_TLS_CERT", ""), env.get("LILO_TLS_KEY", "")
    try:
        creds = grpc.ssl_channel_credentials(
            root_certificates=Path(ca).read_bytes(),
            private_key=Path(key).read_bytes() if key else None,
            certificate_chain=Path(cert).read_bytes() if cert else None,
        )
    except OSError as exc:
        raise ProbeConfigError(f"cannot read TLS files: {exc}") from None
    options = [("grpc.ssl_target_name_override", LOCAL_NAME)]
    return grpc.secure_channel(target, creds, options=options)


def check(port: int, service: str, timeout: float, env: Mapping[str, str]) -> tuple[int, str]:
    """The exit status and, on failure, why."""
    with channel_for(port, env) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            if not isinstance(exc, grpc.Call):
                return EXIT_UNHEALTHY, f"health check failed: {exc}"
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return EXIT_UNHEALTHY, f"the server does not serve {service!r}"
            return EXIT_UNHEALTHY, f"health check failed: {exc.code()}: {exc.details()}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return EXIT_UNHEALTHY, f"{service or 'server'} is {status}"
    return EXIT_SERVING, ""


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m deploy.healthprobe")
    parser.add_argument("--service", default="", help="grpc.health.v1 service name")
    parser.add_argument("--port", type=int, help="default: LILO_PORT")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    try:
        port = args.port if args.port is not None else int(env.get("LILO_PORT", ""))
        status, why = check(port, args.service, args.timeout, env)
    except ValueError:
        status, why = EXIT_CONFIG, "no port: pass --port or set LILO_PORT"
    except ProbeConfigError as exc:
        status, why = EXIT_CONFIG, str(exc)
    if why:
        print(f"healthprobe: {why}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
