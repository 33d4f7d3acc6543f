"""``python -m mesh.tls``: the certificate init step of deployments without a PKI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc import aio

from mesh.client import ClientTls
from mesh.config import ServerConfig, TlsConfig
from mesh.registry import InMemoryRegistry
from mesh.testing import serve
from mesh.tls import ensure_certificates, main
from services.echo.servicer import EchoServicer
from tests.mesh.runnerkit import echo_over


def gateway_tls(certs: Path, server_name: str) -> ClientTls:
    """The gateway's certificate, checking peers for ``server_name``."""
    return ClientTls(
        ca_file=str(certs / "ca.pem"),
        cert_file=str(certs / "gateway.pem"),
        key_file=str(certs / "gateway.key"),
        server_name_override=server_name,
    )


def ca_bytes(directory: Path) -> bytes:
    return (directory / "ca.pem").read_bytes()


def test_a_complete_current_set_is_kept_and_anything_less_replaced_whole(
    tmp_path: Path,
) -> None:
    wanted = {"echo": [], "emergency_access": ["emergency"]}
    assert ensure_certificates(tmp_path, wanted) is True
    first = ca_bytes(tmp_path)
    assert ensure_certificates(tmp_path, wanted) is False  # a restart keeps the set
    assert ca_bytes(tmp_path) == first

    (tmp_path / "echo.key").unlink()
    assert ensure_certificates(tmp_path, wanted) is True  # one file gone: a new CA
    second = ca_bytes(tmp_path)
    assert second != first

    # A certificate for a new host, or one close to expiry, means a new set too.
    assert ensure_certificates(tmp_path, {**wanted, "echo": ["echo-2"]}) is True
    third = ca_bytes(tmp_path)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=25)
    assert ensure_certificates(tmp_path, wanted, now=later) is True
    assert ca_bytes(tmp_path) != third

    cert = x509.load_pem_x509_certificate((tmp_path / "emergency_access.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"emergency_access", "emergency"} <= set(sans.get_values_for_type(x509.DNSName))


def test_a_foreign_certificate_in_the_directory_is_replaced(tmp_path: Path) -> None:
    ensure_certificates(tmp_path / "a", {"echo": []})
    ensure_certificates(tmp_path / "b", {"echo": []})
    (tmp_path / "a" / "echo.pem").write_bytes((tmp_path / "b" / "echo.pem").read_bytes())
    assert ensure_certificates(tmp_path / "a", {"echo": []}) is True


async def test_the_issued_set_carries_an_mtls_call_verified_by_advertised_name(
    tmp_path: Path,
) -> None:
    certs = tmp_path / "certs"
    assert main([str(certs), "echo:echo-host", "gateway"]) == 0
    registry = InMemoryRegistry()
    server_tls = TlsConfig(
        cert_file=str(certs / "echo.pem"),
        key_file=str(certs / "echo.key"),
        client_ca_file=str(certs / "ca.pem"),
    )
    async with serve([EchoServicer("e1")], registry=registry, config=ServerConfig(tls=server_tls)):
        # As a Compose peer would: the name it dials is the host the certificate names.
        reply = await echo_over(registry, gateway_tls(certs, "echo-host"))
        assert reply.instance_id == "e1"
        # A name the certificate does not carry fails the handshake.
        with pytest.raises(aio.AioRpcError) as caught:
            await echo_over(
                registry, gateway_tls(certs, "crisis"), health_check=False, deadline_s=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
