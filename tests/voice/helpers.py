"""Client side of a voice stream for tests: build audio, send it, collect the answers."""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from lilo.voice.v1 import voice_service_pb2 as pb

FRAME = 640  # 20 ms of PCM16 16 kHz mono


def quiet(seconds: float, seed: int = 7) -> bytes:
    """Low-level noise (a quiet room), not digital silence."""
    rng = random.Random(seed)
    n = int(seconds * 16000)
    return struct.pack(f"<{n}h", *(rng.randint(-40, 40) for _ in range(n)))


def chunks(pcm: bytes, size: int = FRAME) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def config(**kw: Any) -> pb.StreamVoiceRequest:
    values: dict[str, Any] = dict(
        encoding=pb.AUDIO_ENCODING_PCM16, sample_rate_hertz=16000, channels=1, resident_id="res-1"
    )
    values.update(kw)
    return pb.StreamVoiceRequest(config=pb.AudioConfig(**values))


async def requests(
    pcm_chunks: Sequence[bytes], cfg: pb.StreamVoiceRequest | None = None, end: bool = True
) -> AsyncIterator[pb.StreamVoiceRequest]:
    yield cfg or config()
    for i, chunk in enumerate(pcm_chunks, start=1):
        yield pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=i, pcm=chunk))
    if end:
        yield pb.StreamVoiceRequest(end_of_stream=pb.EndOfStream(last_sequence=len(pcm_chunks)))


@dataclass
class Collected:
    responses: list[pb.StreamVoiceResponse] = field(default_factory=list)

    def of(self, kind: str) -> list[Any]:
        return [getattr(r, kind) for r in self.responses if r.WhichOneof("event") == kind]

    @property
    def finals(self) -> list[pb.Transcript]:
        return [t for t in self.of("transcript") if t.is_final]


async def run_stream(stub: Any, pcm_chunks: Sequence[bytes], **kw: Any) -> Collected:
    """Send config, wait for its ack (as a client honouring the window must), then the rest
    while reading. Writing after the server ended the call would make grpc report a local
    INTERNAL instead of the server's status, so the writer stops once the call is over."""
    out = Collected()
    call = stub.StreamVoice(metadata=kw.pop("metadata", None))
    answered = asyncio.Event()

    async def send() -> None:
        try:
            messages = requests(pcm_chunks, **kw)
            await call.write(await messages.__anext__())
            await answered.wait()
            async for request in messages:
                await call.write(request)
            await call.done_writing()
        except (grpc.RpcError, asyncio.InvalidStateError, grpc.aio.UsageError):
            pass  # the server ended the stream; the reader reports how

    writer = asyncio.ensure_future(send())
    try:
        async for response in call:
            answered.set()
            out.responses.append(response)
    finally:
        writer.cancel()
    return out


def seconds(duration: Any) -> float:
    return float(duration.seconds + duration.nanos / 1e9)
