"""Service identity from mTLS certificates, and one trace across two hops."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mesh.client import ClientConfig, ClientTls, MeshClient
from mesh.config import ServerConfig, TlsConfig
from mesh.identity.rbac import DEFAULT_POLICY, Policy
from mesh.registry import InMemoryRegistry
from mesh.testing import TestIdentity, serve
from mesh.tls import DevCA
from services.echo.servicer import EchoServicer

ECHO = "lilo.echo.v1.EchoService"
# A policy where the "crisis" service (by certificate) may call echo.
POLICY = Policy(
    role_permissions=DEFAULT_POLICY.role_permissions,
    trusted_callers={**DEFAULT_POLICY.trusted_callers, "crisis": frozenset({("echo", "call")})},
)


async def test_mtls_identifies_the_calling_service(tmp_path: Path) -> None:
    ca = DevCA(tmp_path)
    server_cert, crisis, chat = ca.issue("echo"), ca.issue("crisis"), ca.issue("chat")
    ident = TestIdentity()
    ident.access.policy = POLICY
    registry = InMemoryRegistry()
    tls = TlsConfig(
        cert_file=str(server_cert.cert_file),
        key_file=str(server_cert.key_file),
        client_ca_file=str(ca.ca_file),
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            serve(
                [EchoServicer("e")],
                registry=registry,
                access=ident.access,
                config=ServerConfig(tls=tls),
            )
        )

        async def call_as(issued: Any) -> pb.EchoResponse:
            client = MeshClient(
                registry,
                ClientConfig(
                    health_check=False,
                    tls=ClientTls(
                        ca_file=str(ca.ca_file),
                        cert_file=str(issued.cert_file),
                        key_file=str(issued.key_file),
                        server_name_override="echo",
                    ),
                ),
            )
            stack.push_async_callback(client.close)
            channel = client.channel(ECHO)
            await channel.wait_for_endpoints(1)
            return await pb_grpc.EchoServiceStub(channel).Echo(pb.EchoRequest(payload="hi"))

        assert (await call_as(crisis)).payload == "hi"  # trusted by certificate name
        with pytest.raises(aio.AioRpcError) as caught:
            await call_as(chat)  # a valid certificate, but not a trusted caller of echo
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_one_trace_spans_two_hops() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    ident = TestIdentity()
    back_registry, front_registry = InMemoryRegistry(), InMemoryRegistry()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            serve([EchoServicer("back")], registry=back_registry, access=ident.access)
        )
        downstream = MeshClient(back_registry)
        stack.push_async_callback(downstream.close)
        back = pb_grpc.EchoServiceStub(downstream.channel(ECHO))

        class Front(EchoServicer):
            async def Echo(self, request: pb.EchoRequest, context: Any) -> pb.EchoResponse:
                return await back.Echo(request)  # the caller's token is forwarded by the mesh

        await stack.enter_async_context(
            serve([Front("front")], registry=front_registry, access=ident.access)
        )
        client = MeshClient(front_registry)
        stack.push_async_callback(client.close)
        channel = client.channel(ECHO)
        await channel.wait_for_endpoints(1)
        reply = await pb_grpc.EchoServiceStub(channel).Echo(
            pb.EchoRequest(payload="t"), metadata=ident.bearer("system")
        )
        assert reply.instance_id == "back"
    # Health watches are traces of their own; the call under test is the Echo chain.
    spans = [s for s in exporter.get_finished_spans() if s.name.endswith("EchoService/Echo")]
    servers = [s for s in spans if s.kind == trace.SpanKind.SERVER]
    clients = [s for s in spans if s.kind == trace.SpanKind.CLIENT]
    assert len(servers) >= 2 and len(clients) >= 2
    assert len({s.context.trace_id for s in spans}) == 1  # one trace across both hops
