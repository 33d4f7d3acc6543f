"""The process-pool engine's recovery, and stalled clients: bounded buffers, then the end.

Everything runs on the real engine (worker processes with pocketsphinx), the real VAD
and real speech. Waits are on server counters with a bound (``until``), never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.voice.v1 import voice_service_pb2 as pb
from lilo.voice.v1 import voice_service_pb2_grpc as pb_grpc

from mesh.clock import FakeClock
from mesh.testing import serve
from services.voice.logic import StallLimits, Waiting
from services.voice.pool import ProcessPoolEngine, pick_worker
from services.voice.servicer import StreamStats, VoiceConfig, VoiceServicer

from .helpers import chunks, config, quiet, run_stream
from .test_stream import CALM, GUARD, until

WINDOW = 20
STALL = StallLimits(unread_timeout=30.0, idle_timeout=30.0)
# Without BDP probing the client's HTTP/2 window stays at 64 KiB, so the transport fills
# after ~1000 acks instead of after megabytes: the same behaviour, reached in a second.
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0)]


def test_pick_worker_prefers_the_most_free_slots() -> None:
    assert pick_worker({0: 1, 1: 2}) == 1
    assert pick_worker({0: 2, 1: 2}) == 0  # ties: the lowest index, deterministic
    assert pick_worker({0: 0, 1: 0}) is None and pick_worker({}) is None


def _only(servicer: VoiceServicer) -> StreamStats:
    (stats,) = servicer.live.values()
    return stats


async def _recovered(engine: ProcessPoolEngine) -> None:
    total = engine.config.worker_count * engine.config.slots_per_worker
    await until(lambda: engine.free_slots == total and engine.busy == 0, limit=GUARD)


async def test_a_crashed_worker_ends_its_stream_with_unavailable_and_is_replaced(
    pool_engine: ProcessPoolEngine,
    speech: Callable[[str], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = pool_engine
    await _recovered(engine)
    servicer = VoiceServicer(engine, config=VoiceConfig(screening=False))
    pids_before = engine.worker_pids
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.VoiceServiceStub(channel)
        audio = chunks(quiet(0.3) + speech(CALM))
        # Speak until an utterance holds a slot on some worker, then kill that worker.
        call, _, seq = await _open_speaking_stream(servicer, channel, audio)
        (victim,) = [i for i, held in engine.held_by_worker().items() if held]
        os.kill(engine.worker_pids[victim], signal.SIGKILL)

        async def keep_talking() -> None:
            with contextlib.suppress(grpc.RpcError, asyncio.InvalidStateError, aio.UsageError):
                for s in range(seq + 1, len(audio) + 1):
                    # Stop once the server has ended the stream: a write racing its end
                    # fails in grpc core, which then reports INTERNAL for the whole call
                    # instead of the server's status.
                    if servicer.live_streams == 0:
                        return
                    await call.write(_chunk(s, audio))

        # The stream keeps talking; its next decode finds the worker gone.
        sender = asyncio.ensure_future(keep_talking())
        with pytest.raises(aio.AioRpcError) as info:
            while await call.read() is not aio.EOF:
                pass
        sender.cancel()
        details = info.value.details() or ""
        if info.value.code() == grpc.StatusCode.INTERNAL and "execute_batch" in (
            info.value.debug_error_string() or ""
        ):
            # grpc core: a client write racing the server's end of the call replaces the
            # server's status with its own INTERNAL. The server's side is then checked
            # from its log line, which carries the same text as the status it sent.
            details = caplog.text
        else:
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "recognition failed" in details and "killed by signal 9" in details
        assert "Traceback" not in (info.value.details() or "")
        await until(lambda: servicer.live_streams == 0)
        # The pool replaced the worker (a new process) and serves new streams again.
        await _recovered(engine)
        assert engine.replaced >= 1
        assert engine.worker_pids[victim] != pids_before[victim]
        got = await asyncio.wait_for(
            run_stream(stub, chunks(quiet(0.5) + speech(CALM) + quiet(1.0))), GUARD
        )
    assert len(got.finals) == 1 and got.finals[0].text
    assert engine.busy == 0


def _chunk(sequence: int, audio: list[bytes]) -> pb.StreamVoiceRequest:
    return pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=sequence, pcm=audio[sequence - 1]))


async def _watched(stats: StreamStats, looks: int) -> None:
    """Until the stall watchdog has looked at the stream ``looks`` more times."""
    target = stats.watched + looks
    await until(lambda: stats.watched >= target)


async def _open_speaking_stream(
    servicer: VoiceServicer, channel: aio.Channel, audio: list[bytes]
) -> tuple[Any, StreamStats, int]:
    """Config plus chunks until an utterance is open (a decoder slot held)."""
    call = pb_grpc.VoiceServiceStub(channel).StreamVoice()
    await call.write(config())
    await call.read()  # the config's ack
    seq = 0
    while not (servicer.live and _only(servicer).utterances == 1):
        seq += 1
        await call.write(_chunk(seq, audio))
        await until(lambda sent=seq: _only(servicer).processed == sent)  # type: ignore[misc]
    return call, _only(servicer), seq


async def _stall_watched(engine: ProcessPoolEngine) -> tuple[VoiceServicer, FakeClock]:
    """A servicer on a recovered pool whose stall watchdog runs on a fake clock."""
    await _recovered(engine)
    clock = FakeClock()
    servicer = VoiceServicer(
        engine,
        config=VoiceConfig(window_chunks=WINDOW, screening=False, stall=STALL, watch_interval=0.02),
        clock=clock,
    )
    return servicer, clock


@pytest.mark.parametrize("ending", ["server gives up", "client cancels"])
async def test_a_client_that_stops_reading_is_bounded_then_ended(
    pool_engine: ProcessPoolEngine, speech: Callable[[str], bytes], ending: str
) -> None:
    engine = pool_engine
    servicer, clock = await _stall_watched(engine)
    # Speech first (a slot is held), then a long quiet tail the client keeps sending.
    audio = chunks(quiet(0.3) + speech(CALM)[:16000]) + chunks(quiet(2.0, seed=5)) * 400
    async with (
        serve([servicer]) as server,
        aio.insecure_channel(server.address, options=SMALL_WINDOW) as channel,
    ):
        call, stats, seq = await _open_speaking_stream(servicer, channel, audio)
        written = seq

        async def keep_sending() -> None:
            nonlocal written
            for s in range(seq + 1, len(audio) + 1):
                await call.write(_chunk(s, audio))
                written = s

        sender = asyncio.ensure_future(keep_sending())
        try:
            # The client reads nothing more. The transport fills, the handler blocks in
            # yield, the queue fills to the window, the server stops reading: backpressure.
            async def plateau() -> tuple[int, int, int]:
                while True:
                    before = (stats.sent, stats.received, written)
                    await _watched(stats, 3)  # real time passes between looks
                    if (
                        before == (stats.sent, stats.received, written)
                        and stats.waiting is Waiting.CLIENT_READ
                    ):
                        return before

            sent, received, _ = await asyncio.wait_for(plateau(), GUARD)
            # Far fewer than the ~40,000 chunks offered: the client's 64 KiB window of
            # responses, the server's HTTP/2 window of requests, and the chunk window.
            assert sent < 4000 and received < 4000, (sent, received)
            assert stats.queued == WINDOW and stats.max_queued <= WINDOW
            assert not sender.done() and written < len(audio)
            assert stats.unsent == 1 and stats.max_queued <= WINDOW
            assert servicer.live_streams == 1

            if ending == "server gives up":
                clock.advance(STALL.unread_timeout)
                await until(lambda: servicer.live_streams == 0)
                assert servicer.finished[-1].ended_by == Waiting.CLIENT_READ.value
                # The status waits behind the unread responses; reading drains to it.
                with pytest.raises(aio.AioRpcError) as info:
                    while await call.read() is not aio.EOF:
                        pass
                assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "read no responses for 30 s" in (info.value.details() or "")
            else:
                call.cancel()
                await until(lambda: servicer.live_streams == 0)
        finally:
            sender.cancel()
    # Either way the decoder slot and every worker request are released.
    await until(lambda: engine.busy == 0 and engine.inflight == 0)
    assert servicer.finished[-1].max_queued <= WINDOW


async def test_a_client_that_stops_reading_and_sending_is_ended_when_idle(
    pool_engine: ProcessPoolEngine, speech: Callable[[str], bytes]
) -> None:
    engine = pool_engine
    servicer, clock = await _stall_watched(engine)
    audio = chunks(quiet(0.3) + speech(CALM))
    async with serve([servicer]) as server, aio.insecure_channel(server.address) as channel:
        call, stats, _ = await _open_speaking_stream(servicer, channel, audio)
        # Silence from the client in both directions: nothing queues, the slot is held.
        await until(lambda: stats.waiting is Waiting.CLIENT_AUDIO and stats.queued == 0)
        assert engine.busy == 1 and stats.unsent == 0
        clock.advance(STALL.idle_timeout - 1)
        await _watched(stats, 2)
        assert servicer.live_streams == 1  # not yet
        clock.advance(1)
        await until(lambda: servicer.live_streams == 0)
        assert servicer.finished[-1].ended_by == Waiting.CLIENT_AUDIO.value
        with pytest.raises(aio.AioRpcError) as info:
            while await call.read() is not aio.EOF:
                pass
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no audio for 30 s" in (info.value.details() or "")
    await until(lambda: engine.busy == 0 and engine.inflight == 0)
