"""StreamVoice end to end with real synthesized speech, a real engine and a real crisis service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.voice.v1 import voice_service_pb2 as pb
from lilo.voice.v1 import voice_service_pb2_grpc as pb_grpc

from mesh.client import ClientConfig, MeshClient
from mesh.registry import InMemoryRegistry
from mesh.testing import TestIdentity, serve
from services.voice.engine import PocketSphinxEngine, Recognition, RemoteEngine
from services.voice.pool import ProcessPoolEngine
from services.voice.servicer import VoiceConfig, VoiceServicer

from .conftest import CrisisStack
from .helpers import chunks, config, quiet, requests, run_stream, seconds

GUARD = 60.0
CRISIS = "help me, I want to kill myself"
CALM = "the weather is lovely today, I had tea with my daughter"
VOICE = "lilo.voice.v1.VoiceService"
Engine = PocketSphinxEngine | ProcessPoolEngine


async def until(predicate: Callable[[], bool], limit: float = 10.0) -> None:
    """Poll state owned by the server (no event to wait on); bounded, fails instead of hanging."""

    async def loop() -> None:
        while not predicate():  # noqa: ASYNC110 - the server exposes counters, not events
            await asyncio.sleep(0.005)

    await asyncio.wait_for(loop(), limit)


@pytest.fixture
async def voice(engine: Engine) -> AsyncIterator[tuple[VoiceServicer, Any]]:
    servicer = VoiceServicer(engine)
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        yield servicer, pb_grpc.VoiceServiceStub(channel)


def utterance(speech: Callable[[str], bytes], text: str) -> bytes:
    return quiet(1.0) + speech(text) + quiet(1.0)


# -- speech segments, transcripts, acks ---------------------------------------------------


async def test_speech_events_bracket_the_utterance_and_silence_has_none(
    voice: tuple[VoiceServicer, Any], speech: Callable[[str], bytes]
) -> None:
    servicer, stub = voice
    spoken = speech(CALM)
    audio = quiet(1.0) + spoken + quiet(1.0)
    got = await asyncio.wait_for(run_stream(stub, chunks(audio)), GUARD)

    events = got.of("speech_event")
    assert [e.type for e in events] == [pb.SPEECH_EVENT_TYPE_START, pb.SPEECH_EVENT_TYPE_END]
    start, end = seconds(events[0].audio_offset), seconds(events[1].audio_offset)
    speech_end = 1.0 + len(spoken) / 32000
    assert 0.9 <= start <= 1.3, start  # espeak starts with a few ms of silence
    assert speech_end - 0.5 <= end <= speech_end + 0.1, (end, speech_end)
    assert len(got.finals) == 1 and got.finals[0].text
    assert got.finals[0].utterance_id
    assert seconds(got.finals[0].audio_start_offset) == start
    # Every message carries the same trace id; acks run 0..n in order and end final.
    assert len({r.trace_id for r in got.responses}) == 1 and got.responses[0].trace_id
    acks = got.of("ack")
    n = len(chunks(audio))
    assert [a.last_processed_sequence for a in acks] == [*range(n + 1), n]
    assert acks[0].window_chunks == 50 and acks[-1].final and not any(a.final for a in acks[:-1])
    assert got.responses[-1].ack.final

    silent = await asyncio.wait_for(run_stream(stub, chunks(quiet(3.0, seed=3))), GUARD)
    assert silent.of("speech_event") == [] and silent.of("transcript") == []
    assert servicer.live_streams == 0


async def test_two_sentences_are_two_utterances_with_partials(
    voice: tuple[VoiceServicer, Any], speech: Callable[[str], bytes]
) -> None:
    _, stub = voice
    audio = utterance(speech, CALM) + utterance(speech, "my grandson visited me yesterday")
    got = await asyncio.wait_for(run_stream(stub, chunks(audio, 3200)), GUARD)
    types = [e.type for e in got.of("speech_event")]
    assert types == [pb.SPEECH_EVENT_TYPE_START, pb.SPEECH_EVENT_TYPE_END] * 2
    assert len(got.finals) == 2 and got.finals[0].utterance_id != got.finals[1].utterance_id
    partials = [t for t in got.of("transcript") if not t.is_final]
    assert partials and all(p.confidence == 0 for p in partials)


# -- crisis -------------------------------------------------------------------------------


async def test_spoken_crisis_raises_a_safety_flag_and_an_alert(
    engine: Engine, speech: Callable[[str], bytes], crisis_stack: CrisisStack
) -> None:
    servicer = VoiceServicer(engine, crisis=crisis_stack.stub())
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.VoiceServiceStub(channel)
        got = await asyncio.wait_for(
            run_stream(stub, chunks(utterance(speech, CRISIS)), cfg=config(resident_id="res-9")),
            GUARD,
        )
    finals = got.finals
    assert len(finals) == 1
    assert "kill myself" in finals[0].keyphrases
    flags = got.of("safety_flag")
    assert len(flags) == 1
    flag = flags[0]
    assert flag.level >= 4 and flag.alert_id and flag.utterance_id == finals[0].utterance_id
    kinds = [r.WhichOneof("event") for r in got.responses]
    assert kinds.index("safety_flag") == kinds.index(
        "transcript", kinds.index("speech_event")
    ) + 1 or (kinds[kinds.index("safety_flag") - 1] == "transcript")
    alerts = await crisis_stack.alerts("res-9")
    assert [str(a["alert_id"]) for a in alerts] == [flag.alert_id]
    assert alerts[0]["source"] == "voice"


async def test_calm_speech_raises_no_flag(
    engine: Engine, speech: Callable[[str], bytes], crisis_stack: CrisisStack
) -> None:
    servicer = VoiceServicer(engine, crisis=crisis_stack.stub())
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.VoiceServiceStub(channel)
        got = await asyncio.wait_for(
            run_stream(stub, chunks(utterance(speech, CALM)), cfg=config(resident_id="res-8")),
            GUARD,
        )
    assert len(got.finals) == 1 and got.finals[0].text
    assert list(got.finals[0].keyphrases) == []
    assert got.of("safety_flag") == []
    assert await crisis_stack.alerts("res-8") == []


# -- contract errors ----------------------------------------------------------------------


async def test_wrong_sample_rate_is_refused_naming_what_is_supported(
    voice: tuple[VoiceServicer, Any],
) -> None:
    _, stub = voice
    with pytest.raises(aio.AioRpcError) as info:
        await run_stream(stub, chunks(quiet(0.2)), cfg=config(sample_rate_hertz=8000))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details() or ""
    assert "sample_rate_hertz 8000" in details and "16000" in details and "PCM16" in details


async def test_first_message_must_be_config(voice: tuple[VoiceServicer, Any]) -> None:
    _, stub = voice

    call = stub.StreamVoice()
    await call.write(pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=1, pcm=b"\0" * 640)))
    with pytest.raises(aio.AioRpcError) as info:
        async for _ in call:
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message must be config" in (info.value.details() or "")


async def test_out_of_order_sequence_is_refused(voice: tuple[VoiceServicer, Any]) -> None:
    servicer, stub = voice

    async def skipping() -> AsyncIterator[pb.StreamVoiceRequest]:
        yield config()
        for seq in (1, 2, 4):
            yield pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=seq, pcm=b"\0" * 640))

    seen: list[pb.StreamVoiceResponse] = []
    call = stub.StreamVoice()
    for request in [r async for r in skipping()]:
        await call.write(request)
    with pytest.raises(aio.AioRpcError) as info:
        async for response in call:
            seen.append(response)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "chunk.sequence 4 is out of order: expected 3" in (info.value.details() or "")
    # The valid chunks before the bad one were processed and acknowledged.
    assert [r.ack.last_processed_sequence for r in seen if r.HasField("ack")] == [0, 1, 2]
    await until(lambda: servicer.live_streams == 0)


# -- flow control and resources -----------------------------------------------------------


class _Always:
    def is_speech(self, frame: bytes) -> bool:
        return True


class _GatedEngine:
    """Recognition that blocks until the test opens the gate: a recognizer slower than audio."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.open_sessions = 0
        self.fed = 0

    async def open(self, keyphrases: Sequence[str], *, resident_id: str) -> Any:
        self.open_sessions += 1
        return self

    async def start_utterance(self) -> None:
        pass

    async def feed(self, frames: Sequence[bytes]) -> str | None:
        await self.gate.wait()
        self.fed += len(frames)
        return None

    async def end_utterance(self) -> Recognition:
        return Recognition("", 0.0, ())

    def close(self) -> None:
        self.open_sessions -= 1


async def test_fast_sender_is_paced_by_a_bounded_queue() -> None:
    engine = _GatedEngine()
    window = 20
    servicer = VoiceServicer(
        engine, vad_factory=_Always, config=VoiceConfig(window_chunks=window, screening=False)
    )
    total = 2000
    pcm = b"\1\0" * 3200  # 200 ms chunks: 12.8 MB in all, far beyond HTTP/2 windows
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.VoiceServiceStub(channel)
        call = stub.StreamVoice()
        written = 0

        async def send() -> None:
            nonlocal written
            await call.write(config())
            for seq in range(1, total + 1):
                await call.write(pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=seq, pcm=pcm)))
                written += 1
            await call.write(
                pb.StreamVoiceRequest(end_of_stream=pb.EndOfStream(last_sequence=total))
            )
            await call.done_writing()

        sender = asyncio.ensure_future(send())
        await until(
            lambda: bool(servicer.live) and next(iter(servicer.live.values())).queued == window
        )
        stats = next(iter(servicer.live.values()))
        received_when_full = stats.received
        # The server stopped reading: the client cannot finish writing while the gate is shut.
        for _ in range(200):
            await asyncio.sleep(0)
        assert stats.received == received_when_full == window and stats.processed == 0
        assert written < total and not sender.done()

        engine.gate.set()
        acks = [r.ack async for r in call if r.HasField("ack")]
        await asyncio.wait_for(sender, GUARD)
    assert acks[-1].final and acks[-1].last_processed_sequence == total
    assert (
        servicer.finished[-1].max_queued == window
    )  # never more unprocessed chunks than the window
    assert servicer.live_streams == 0 and engine.open_sessions == 0


async def test_client_cancel_frees_the_stream_and_the_recognizer(
    engine: Engine, speech: Callable[[str], bytes]
) -> None:
    servicer = VoiceServicer(engine, config=VoiceConfig(screening=False))
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.VoiceServiceStub(channel)
        call = stub.StreamVoice()
        await call.write(config())
        # Enough speech that an utterance is open (and a recognizer slot held) when we cancel.
        for seq, chunk in enumerate(chunks(quiet(0.3) + speech(CALM)[:32000]), start=1):
            await call.write(pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=seq, pcm=chunk)))
        async for response in call:
            if response.HasField("speech_event"):
                break
        await until(lambda: engine.busy == 1)
        assert servicer.live_streams == 1
        call.cancel()
        await until(lambda: servicer.live_streams == 0)
        await until(lambda: engine.busy == 0)


async def test_server_side_end_frees_resources_too(
    engine: Engine, speech: Callable[[str], bytes]
) -> None:
    """A stream the server ends (bad sequence mid-utterance) also releases its recognizer slot."""
    servicer = VoiceServicer(engine, config=VoiceConfig(screening=False))
    audio = chunks(quiet(0.3) + speech(CALM)[:32000])

    async def broken() -> AsyncIterator[pb.StreamVoiceRequest]:
        async for request in requests(audio, end=False):
            yield request
        yield pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=len(audio) + 5, pcm=b""))

    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.VoiceServiceStub(channel)
        with pytest.raises(aio.AioRpcError):
            async for _ in stub.StreamVoice(broken()):
                pass
    await until(lambda: servicer.live_streams == 0 and engine.busy == 0)


# -- remote engine and access ---------------------------------------------------------------


async def test_remote_engine_recognizes_through_a_second_voice_server_via_the_mesh(
    engine: Engine, speech: Callable[[str], bytes]
) -> None:
    registry = InMemoryRegistry()
    back = VoiceServicer(engine, config=VoiceConfig(screening=False))
    client = MeshClient(
        registry, ClientConfig(health_check=False, service_policies={VOICE: "ring_hash"})
    )
    try:
        async with serve([back], registry=registry):
            channel = client.channel(VOICE)
            await channel.wait_for_endpoints(1)
            front = VoiceServicer(RemoteEngine(pb_grpc.VoiceServiceStub(channel)))
            async with serve([front]) as server, aio.insecure_channel(server.address) as ch:
                stub = pb_grpc.VoiceServiceStub(ch)
                got = await asyncio.wait_for(
                    run_stream(stub, chunks(utterance(speech, CRISIS))), GUARD
                )
    finally:
        await client.close()
    assert len(got.finals) == 1 and "kill myself" in got.finals[0].keyphrases
    # No crisis client on the front: the flag is still raised, without an alert id.
    flags = got.of("safety_flag")
    assert len(flags) == 1 and flags[0].alert_id == "" and flags[0].level >= 4
    assert len(back.finished) >= 1 and back.live_streams == 0 and front.live_streams == 0


async def test_real_access_controller_admits_the_resident_and_denies_a_stranger(
    engine: Engine,
) -> None:
    identity = TestIdentity()
    servicer = VoiceServicer(engine, access=identity.access, config=VoiceConfig(screening=False))
    async with (
        serve([servicer], access=identity.access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        if True:
            stub = pb_grpc.VoiceServiceStub(channel)
            own = identity.bearer("resident", subject="res-1")
            got = await run_stream(stub, chunks(quiet(0.2)), metadata=own)
            assert got.responses[-1].ack.final
            other = identity.bearer("resident", subject="res-2")
            with pytest.raises(aio.AioRpcError) as info:
                await run_stream(stub, chunks(quiet(0.2)), metadata=other)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
