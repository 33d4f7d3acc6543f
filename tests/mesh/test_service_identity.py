"""Service identity over mTLS, in-process with a real DevCA: who may report metrics, what a
refused peer sees, and that a service certificate is no skeleton key for PHI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as echo_pb
from lilo.echo.v1 import echo_service_pb2_grpc as echo_grpc
from lilo.memory.v1 import memory_service_pb2 as memory_pb
from lilo.memory.v1 import memory_service_pb2_grpc as memory_grpc
from lilo.metrics.v1 import metrics_service_pb2 as pb
from lilo.metrics.v1 import metrics_service_pb2_grpc as pb_grpc

from mesh.audit_sink import AUDIT_MIGRATIONS, PostgresAuditSink
from mesh.cli import meshctl
from mesh.client import ClientConfig, ClientTls, MeshClient
from mesh.config import (
    ServerConfig,
    TlsConfig,
    client_tls_from_env,
    metrics_report_interval_from_env,
)
from mesh.db import create_pool, migrate
from mesh.errors import ConfigError
from mesh.registry import registry_from_url
from mesh.registry.redis import RedisRegistry
from mesh.reporter import collect
from mesh.runner import ServiceDeps, serve_service
from mesh.testing import TestIdentity, serve
from mesh.tls import DevCA, Issued
from services.audit.logic import KeyRing
from services.audit.writer import AuditWriter
from services.echo.servicer import EchoServicer
from services.memory.servicer import MemoryServicer
from services.memory.store import MemoryStore
from services.metrics.servicer import MetricsServicer
from tests.mesh.runnerkit import MtlsServices

ECHO = "lilo.echo.v1.EchoService"
METRICS = "lilo.metrics.v1.MetricsService"
AUDIT_KEYS = KeyRing("k1", {"k1": b"service-identity-test-key-0123456789"})


def server_tls(ca: DevCA, issued: Issued) -> TlsConfig:
    return TlsConfig(
        cert_file=str(issued.cert_file),
        key_file=str(issued.key_file),
        client_ca_file=str(ca.ca_file),  # callers must present a certificate of this CA
    )


def channel_as(address: str, ca: DevCA, issued: Issued | None) -> aio.Channel:
    """A plain grpc channel presenting ``issued`` (None: no client certificate)."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca.ca_file.read_bytes(),
        private_key=issued.key_file.read_bytes() if issued else None,
        certificate_chain=issued.cert_file.read_bytes() if issued else None,
    )
    return aio.secure_channel(address, creds)


async def one_sample(instance_id: str) -> AsyncIterator[pb.ReportMetricsRequest]:
    yield collect("lilo.crisis.v1.CrisisService", instance_id, started_at=1.0)


# -- ReportMetrics: admitted by a mesh certificate, refused otherwise -----------------------


async def test_report_metrics_admits_service_identities_only(tmp_path: Path) -> None:
    ca, other_ca = DevCA(tmp_path / "mesh"), DevCA(tmp_path / "elsewhere")
    crisis, gateway, metrics = ca.issue("crisis"), ca.issue("gateway"), ca.issue("metrics")
    forged_crisis = other_ca.issue("crisis")  # right name, wrong authority
    servicer = MetricsServicer()
    ident = TestIdentity()
    async with serve(
        [servicer], access=ident.access, config=ServerConfig(tls=server_tls(ca, metrics))
    ) as server:

        async def report_as(issued: Issued | None) -> pb.ReportMetricsResponse:
            # Each caller reports as its own instance, so any sample let in would show.
            instance = issued.cert_file.parent.name + "-" + issued.cert_file.stem if issued else "-"
            async with channel_as(server.address, ca, issued) as channel:
                stub = pb_grpc.MetricsServiceStub(channel)
                reply: pb.ReportMetricsResponse = await stub.ReportMetrics(
                    one_sample(instance), timeout=5
                )
                return reply

        async def refused(issued: Issued | None) -> aio.AioRpcError:
            with pytest.raises(aio.AioRpcError) as caught:
                await report_as(issued)
            return caught.value

        # A mesh service, by its certificate alone (no token): a service principal.
        assert (await report_as(crisis)).accepted_samples == 1

        # No certificate / another CA's: the TLS handshake is refused, so no handler,
        # no access check and no sample. grpcio servers can only require-and-verify
        # client certificates or not ask for them, so the caller sees UNAVAILABLE.
        for peer in (None, forged_crisis):
            error = await refused(peer)
            assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()

        # A mesh certificate with no trusted-caller row (the gateway) is no service
        # principal: without a user token the call is anonymous.
        error = await refused(gateway)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "authentication required" in (error.details() or "")

        # A service principal gets its own row and nothing else: metrics may read, not write.
        error = await refused(metrics)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error.details() == "permission denied: service_not_trusted"

        # Only the admitted caller's sample reached the aggregator.
        assert servicer.aggregator.services() == ["lilo.crisis.v1.CrisisService"]
        [view] = servicer.aggregator.view([], 60.0, servicer._clock.now())
        assert view.instances == 1


# -- the runner: every service reports, WatchMetrics sees the others' traffic ---------------


async def test_services_report_their_rates_to_the_metrics_service(
    tmp_path: Path, redis_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = TestIdentity()
    services = MtlsServices(
        tmp_path, redis_db_url, monkeypatch, ("metrics", "echo", "gateway"), ident
    )
    ca, certs, start = services.ca, services.certs, services.start

    async with AsyncExitStack() as stack:
        metrics = await start("metrics", MetricsServicer())
        stack.push_async_callback(metrics.drain)
        echo = await start("echo", EchoServicer("echo-1"))
        stack.push_async_callback(echo.drain)
        assert metrics.reporter is None  # metrics does not report to itself
        assert echo.reporter is not None

        # The REST gateway's position: its own certificate, the user's token on each call.
        registry = registry_from_url(redis_db_url)  # as the gateway process builds it
        stack.push_async_callback(registry.close)
        gateway = MeshClient(
            registry,
            ClientConfig(
                tls=ClientTls(
                    ca_file=str(ca.ca_file),
                    cert_file=str(certs["gateway"].cert_file),
                    key_file=str(certs["gateway"].key_file),
                )
            ),
        )
        stack.push_async_callback(gateway.close)
        operator = ident.bearer("system", "operator-1")
        echo_channel = gateway.channel(ECHO)
        await echo_channel.wait_for_endpoints(1)
        metrics_channel = gateway.channel(METRICS)
        await metrics_channel.wait_for_endpoints(1)

        async def echo_rate() -> pb.ServiceSnapshot:
            request = pb.WatchMetricsRequest(
                interval=duration_pb2.Duration(nanos=100_000_000),
                window=duration_pb2.Duration(seconds=5),
            )
            watch = pb_grpc.MetricsServiceStub(metrics_channel).WatchMetrics(
                request, metadata=operator
            )
            snapshot: pb.WatchMetricsResponse
            async for snapshot in watch:
                service: pb.ServiceSnapshot
                for service in snapshot.services:
                    assert service.service != "lilo.discovery.v1.DiscoveryService"
                    if service.service == ECHO and service.request_rate > 0:
                        watch.cancel()
                        return service
                # Keep traffic flowing until two reports apart show it.
                await echo_grpc.EchoServiceStub(echo_channel).Echo(
                    echo_pb.EchoRequest(payload="p"), metadata=operator
                )
            raise AssertionError("the watch ended")

        seen = await asyncio.wait_for(echo_rate(), 20)
        assert seen.instances == 1 and seen.error_rate == 0.0

        await echo.drain()  # the reporter stops first, then the server drains
        assert echo.reporter is None


async def test_a_service_runs_only_under_its_own_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = DevCA(tmp_path)
    crisis = ca.issue("crisis")
    monkeypatch.setenv("LILO_TLS_CERT", str(crisis.cert_file))
    monkeypatch.setenv("LILO_TLS_KEY", str(crisis.key_file))
    monkeypatch.setenv("LILO_TLS_CLIENT_CA", str(ca.ca_file))

    async def build(deps: ServiceDeps) -> list[object]:
        raise AssertionError("must refuse before building")

    with pytest.raises(ConfigError, match="issued to 'crisis' but this service runs as 'echo'"):
        await serve_service("echo", build, default_port=0, verifier=object())


def test_client_tls_and_report_interval_come_from_the_environment(tmp_path: Path) -> None:
    ca = DevCA(tmp_path)
    chat = ca.issue("chat")
    assert client_tls_from_env({}) is None
    tls = client_tls_from_env(
        {
            "LILO_TLS_CA": str(ca.ca_file),
            "LILO_TLS_CERT": str(chat.cert_file),
            "LILO_TLS_KEY": str(chat.key_file),
        }
    )
    assert tls is not None and tls.cert_file == str(chat.cert_file)
    with pytest.raises(ConfigError, match="set together"):
        client_tls_from_env({"LILO_TLS_CA": str(ca.ca_file), "LILO_TLS_CERT": "x"})
    with pytest.raises(ConfigError, match="does not exist"):
        client_tls_from_env({"LILO_TLS_CA": str(tmp_path / "absent.pem")})
    assert metrics_report_interval_from_env({}) == 5.0
    assert metrics_report_interval_from_env({"LILO_METRICS_REPORT_INTERVAL": "0"}) == 0.0
    for bad in ("-1", "often"):
        with pytest.raises(ConfigError, match="LILO_METRICS_REPORT_INTERVAL"):
            metrics_report_interval_from_env({"LILO_METRICS_REPORT_INTERVAL": bad})


# -- mTLS is no skeleton key: PHI stays closed to services not trusted for it ---------------


async def test_a_service_certificate_does_not_open_phi(tmp_path: Path, fresh_database: str) -> None:
    ca = DevCA(tmp_path)
    memory, crisis = ca.issue("memory"), ca.issue("crisis")
    pool = await create_pool(fresh_database)
    try:
        await migrate(pool, "audit", AUDIT_MIGRATIONS)
        sink = PostgresAuditSink(AuditWriter(pool, AUDIT_KEYS), service="memory")
        ident = TestIdentity()
        async with (
            serve(
                [MemoryServicer(MemoryStore(pool))],
                access=ident.access,
                audit=sink,
                config=ServerConfig(tls=server_tls(ca, memory)),
            ) as server,
            channel_as(server.address, ca, crisis) as channel,
        ):
            stub = memory_grpc.MemoryServiceStub(channel)
            with pytest.raises(aio.AioRpcError) as caught:
                await stub.GetMemory(memory_pb.GetMemoryRequest(memory_id="m-1"), timeout=5)
        await sink.close()
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert caught.value.details() == "permission denied: service_not_trusted"
        rows = await pool.fetch(
            "SELECT actor_user_id, actor_role, event_type, outcome, phi_accessed, resource_id,"
            " additional_context->>'rpc' AS rpc FROM audit.events"
        )
        assert [dict(r) for r in rows] == [
            {
                "actor_user_id": "crisis",  # the refused service is named, not "anonymous"
                "actor_role": "ROLE_SYSTEM",
                "event_type": "access_denied",
                "outcome": "DENIED",
                "phi_accessed": False,
                "resource_id": "m-1",
                "rpc": "/lilo.memory.v1.MemoryService/GetMemory",
            }
        ]
    finally:
        await pool.close()


# -- meshctl follows the mesh that scripts/up describes, certificate included ---------------


async def test_meshctl_calls_an_mtls_mesh_with_the_certificate_in_mesh_env(
    tmp_path: Path,
    redis_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ca = DevCA(tmp_path / "tls")
    echo, operator = ca.issue("echo"), ca.issue("meshctl")
    (tmp_path / "mesh.env").write_text(
        f"REDIS_URL={redis_db_url}\nLILO_TLS_CA={ca.ca_file}\n"
        f"LILO_TLS_CERT={operator.cert_file}\nLILO_TLS_KEY={operator.key_file}\n"
    )
    monkeypatch.setenv("LILO_STATE_DIR", str(tmp_path))
    for name in ("REDIS_URL", "LILO_REGISTRY_URL", "LILO_TLS_CA", "LILO_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    ident = TestIdentity()
    token = ident.bearer("system", "op-1")[0][1].removeprefix("Bearer ")
    registry = RedisRegistry.from_url(redis_db_url)
    try:
        async with serve(
            [EchoServicer("e1")],
            registry=registry,
            access=ident.access,
            config=ServerConfig(tls=server_tls(ca, echo), lease_ttl=5.0),
        ):

            async def meshctl_run(*argv: str) -> tuple[int, str, str]:
                code = await asyncio.to_thread(meshctl.main, list(argv))
                captured = capsys.readouterr()
                return code, captured.out, captured.err

            code, out, err = await meshctl_run("--token", token, "call", f"{ECHO}/Echo", "{}")
            assert code == meshctl.EXIT_OK, err
            assert '"instanceId": "e1"' in out
            # A registry named explicitly is another mesh: mesh.env's certificate is not
            # offered there, so this mTLS server refuses the plaintext connection.
            code, _, err = await meshctl_run(
                "--registry", redis_db_url, "--token", token, "call", f"{ECHO}/Echo", "{}"
            )
            assert code == meshctl.EXIT_NOT_FOUND and "unreachable" in err
    finally:
        await registry.close()
