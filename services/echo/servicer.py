"""EchoService: answers with what it is sent, optionally late or with a chosen failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio
from lilo.echo.v1 import echo_service_pb2 as pb
from lilo.echo.v1 import echo_service_pb2_grpc as pb_grpc

from mesh.status import InvalidArgument


class EchoServicer(pb_grpc.EchoServiceServicer):
    def __init__(self, instance_id: str = "") -> None:
        self.instance_id = instance_id
        self.calls = 0

    async def Echo(
        self, request: pb.EchoRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.EchoResponse:
        self.calls += 1
        if request.delay_ms:
            await asyncio.sleep(request.delay_ms / 1000)
        if request.fail_code:
            try:
                code = _CODES[request.fail_code]
            except KeyError:
                raise InvalidArgument(
                    f"fail_code {request.fail_code} is not a gRPC status code"
                ) from None
            await context.abort(code, f"failure injected by request: {code.name}")
        return pb.EchoResponse(payload=request.payload, instance_id=self.instance_id)

    async def EchoStream(
        self, request: pb.EchoStreamRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.EchoStreamResponse]:
        for index in range(request.resume_after + 1, request.count + 1):
            if request.interval_ms:
                await asyncio.sleep(request.interval_ms / 1000)
            yield pb.EchoStreamResponse(
                index=index, payload=request.payload, instance_id=self.instance_id
            )

    async def EchoBidi(
        self,
        request_iterator: AsyncIterator[pb.EchoBidiRequest],
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.EchoBidiResponse]:
        async for message in request_iterator:
            yield pb.EchoBidiResponse(payload=message.payload, instance_id=self.instance_id)


_CODES = {code.value[0]: code for code in grpc.StatusCode if code is not grpc.StatusCode.OK}
