"""Shared pieces of the gateway app tests: a real echo backend, the app, a real uvicorn.

Everything runs on the test's event loop: the gRPC server (``mesh.testing.serve``), the
app's lifespan (its ``MeshClient``) and, when a socket is needed, uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import httpx
import uvicorn
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from starlette.applications import Starlette

from gateway_rest.app import create_app
from gateway_rest.config import GatewayConfig
from mesh.client import ClientConfig
from mesh.registry import InMemoryRegistry
from mesh.server import MeshServer
from mesh.testing import serve
from services.echo.servicer import EchoServicer

ECHO = "lilo.echo.v1.EchoService"
T = TypeVar("T")


class RecordingEcho(EchoServicer):
    """The echo service plus: it records the metadata it receives, answers with initial and
    trailing metadata, sends rich error details for payload "rich", and notices when a
    stream is cancelled by its client."""

    def __init__(self, instance_id: str = "echo-1") -> None:
        super().__init__(instance_id)
        self.seen: list[dict[str, Any]] = []
        self.stream_cancelled = asyncio.Event()

    async def Echo(
        self, request: pb.EchoRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.EchoResponse:
        self.seen.append({k: v for k, v in context.invocation_metadata() or ()})
        if request.payload == "rich":
            detail = any_pb2.Any()
            detail.Pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="payload", description="too rich"
                        )
                    ]
                )
            )
            status = status_pb2.Status(code=3, message="rich payload refused", details=[detail])
            context.set_trailing_metadata(
                (("grpc-status-details-bin", status.SerializeToString()),)
            )
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rich payload refused")
        await context.send_initial_metadata((("x-served-by", self.instance_id),))
        context.set_trailing_metadata((("x-trailer", "done"), ("x-blob-bin", b"\x00\x01")))
        return await super().Echo(request, context)

    async def EchoStream(
        self, request: pb.EchoStreamRequest, context: aio.ServicerContext[Any, Any]
    ) -> Any:
        self.seen.append({k: v for k, v in context.invocation_metadata() or ()})
        finished = False
        try:
            async for item in super().EchoStream(request, context):
                yield item
            finished = True
        finally:
            # Cancelled (CancelledError) or closed by the server on cancellation (GeneratorExit).
            if not finished:
                self.stream_cancelled.set()


@dataclass
class Env:
    app: Starlette
    http: httpx.AsyncClient
    server: MeshServer
    echo: RecordingEcho
    registry: InMemoryRegistry
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway


@contextlib.asynccontextmanager
async def echo_env(
    *,
    access: Any = None,
    config: GatewayConfig | None = None,
    servicers: tuple[object, ...] = (),
    client_config: ClientConfig | None = None,
) -> AsyncIterator[Env]:
    """The echo backend (plus ``servicers``) on a shared in-memory registry, and the app."""
    registry = InMemoryRegistry()
    echo = RecordingEcho()
    async with serve([echo, *servicers], registry=registry, access=access) as server:
        app = create_app(
            registry=registry, config=config or GatewayConfig(), client_config=client_config
        )
        async with app.router.lifespan_context(app):
            await app.state.gateway.mesh.channel(ECHO).wait_for_endpoints(1, timeout=5)
            transport = httpx.ASGITransport(app, client=("127.0.0.1", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                yield Env(app, http, server, echo, registry)


@contextlib.asynccontextmanager
async def live_server(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn on a free loopback port; yield ``host:port``.

    The app's lifespan must already be running (``echo_env`` does that), so uvicorn's is off.
    """
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done(), what="uvicorn to listen")
    if task.done():
        task.result()
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def until(condition: Callable[[], bool], *, what: str, limit: float = 10.0) -> None:
    """Wait for a condition no event exposes (uvicorn's start); fail after ``limit`` s."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run_in_loop(loop: asyncio.AbstractEventLoop, coro: Awaitable[T]) -> T:
    """From a worker thread, run a coroutine on the test's loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)  # type: ignore[arg-type]
