"""``scripts/bench voice``: N concurrent real-time voice streams against one voice server.

The server is ``python -m services.voice`` (child process, auth on, screening off so the
engine and the stream path are what is measured). Every stream sends config, then 20 ms
frames of espeak-ng speech (a sentence and 0.6 s of quiet, looped) on a real-time
schedule, then EndOfStream. Per case (a JSON line, headline ``p99_ms``): per-chunk ack
latency (chunk sent -> its Ack received) p50/p99, and ``realtime``: p99 under
``--realtime-ms`` and the final Ack within that of the last chunk. A summary line gives the
largest N kept in real time and the engine's real-time factor (decode seconds / audio
seconds, one decoder, in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grpc import aio
from lilo.voice.v1 import voice_service_pb2 as pb
from lilo.voice.v1 import voice_service_pb2_grpc as pb_grpc

from bench.common import ChildServices, emit, pct, state_dir

SENTENCE = "the weather is lovely today, I had tea with my daughter"
FRAME = 640


def synthesize(text: str) -> bytes:
    import subprocess
    import wave

    with tempfile.TemporaryDirectory() as d:
        raw, out = Path(d) / "a.wav", Path(d) / "b.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(
            [
                "sox",
                str(raw),
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        with wave.open(str(out)) as w:
            pcm: bytes = w.readframes(w.getnframes())
            return pcm


def resident_identity(state: Path) -> tuple[str, str]:
    """A JWKS for the child and a token of resident "bench" (who may stream as themself)."""
    import json

    from mesh.identity.principal import Principal, Role
    from mesh.identity.tokens import KeySet
    from mesh.runner import AUDIENCE, ISSUER

    keys = KeySet(ISSUER, AUDIENCE, time.time())
    path = state / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    who = Principal.user("bench", Role.RESIDENT, organization_id="bench", mfa=True)
    return str(path), keys.issue(who, time.time())


def engine_rtf(speech: bytes) -> float:
    from services.voice.engine import _Slot

    with tempfile.NamedTemporaryFile("w", suffix=".kws") as kws:
        from services.voice.engine import KWS_THRESHOLDS

        kws.write("".join(f"{p} /{t:g}/\n" for p, t in KWS_THRESHOLDS.items()))
        kws.flush()
        slot = _Slot(kws.name)
        frames = [speech[i : i + FRAME] for i in range(0, len(speech) - FRAME + 1, FRAME)]
        start = time.perf_counter()
        for _ in range(3):
            slot.start()
            slot.feed(frames, 25)
            slot.end()
        return (time.perf_counter() - start) / (3 * len(speech) / 32000)


async def one_stream(stub: Any, md: Any, frames: list[bytes], latencies: list[float]) -> float:
    """Send ``frames`` in real time; return how late the final Ack came after the last chunk."""
    call = stub.StreamVoice(metadata=md)
    await call.write(
        pb.StreamVoiceRequest(
            config=pb.AudioConfig(
                encoding=pb.AUDIO_ENCODING_PCM16,
                sample_rate_hertz=16000,
                channels=1,
                resident_id="bench",
            )
        )
    )
    sent: dict[int, float] = {}
    last_sent = 0.0

    async def send() -> None:
        nonlocal last_sent
        start = time.perf_counter()
        for seq, frame in enumerate(frames, start=1):
            delay = start + (seq - 1) * 0.02 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[seq] = time.perf_counter()
            await call.write(pb.StreamVoiceRequest(chunk=pb.AudioChunk(sequence=seq, pcm=frame)))
        last_sent = time.perf_counter()
        await call.write(
            pb.StreamVoiceRequest(end_of_stream=pb.EndOfStream(last_sequence=len(frames)))
        )
        await call.done_writing()

    writer = asyncio.ensure_future(send())
    final_at = 0.0
    async for response in call:
        if response.HasField("ack"):
            ack = response.ack
            now = time.perf_counter()
            if ack.final:
                final_at = now
            elif ack.last_processed_sequence in sent:
                latencies.append(now - sent[ack.last_processed_sequence])
    await writer
    return final_at - last_sent


async def run(address: str, token: str, audio: bytes, args: argparse.Namespace) -> None:
    md = [("authorization", f"Bearer {token}")]
    channels = [aio.insecure_channel(address) for _ in range(4)]
    stubs = [pb_grpc.VoiceServiceStub(c) for c in channels]
    frames = [audio[i : i + FRAME] for i in range(0, len(audio) - FRAME + 1, FRAME)]
    best = 0
    for n in args.streams:
        latencies: list[float] = []
        tails = await asyncio.gather(
            *(one_stream(stubs[i % len(stubs)], md, frames, latencies) for i in range(n))
        )
        p99 = pct(latencies, 99) * 1000
        realtime = p99 <= args.realtime_ms and max(tails) * 1000 <= args.realtime_ms + 600
        if realtime:
            best = max(best, n)
        emit(
            {
                "bench": "voice",
                "case": f"streams n{n}",
                "streams": n,
                "audio_s_per_stream": round(len(frames) * 0.02, 2),
                "chunks": len(latencies),
                "p50_ms": round(pct(latencies, 50) * 1000, 2),
                "p99_ms": round(p99, 2),
                "final_ack_after_last_chunk_ms": round(max(tails) * 1000, 1),
                "realtime": realtime,
                "realtime_goal_p99_ms": args.realtime_ms,
            }
        )
        if not realtime:
            # Larger N only queues more audio behind the recognizer (minutes of backlog).
            skipped = [m for m in args.streams if m > n]
            for m in skipped:
                emit(
                    {
                        "bench": "voice",
                        "case": f"streams n{m}",
                        "streams": m,
                        "skipped": f"n{n} already fell behind real time",
                    }
                )
            break
    for c in channels:
        await c.close()
    emit(
        {
            "bench": "voice",
            "case": "summary",
            "max_realtime_streams": best,
            "streams_tried": args.streams,
            "slots": args.slots,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench voice")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 10, 50, 100])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--realtime-ms", type=float, default=500.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.streams, args.seconds = [1, 2, 10], 5.0
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        sys.exit("bench voice needs espeak-ng and sox: apt-get install -y espeak-ng sox")

    speech = synthesize(SENTENCE)
    rtf = engine_rtf(speech)
    emit(
        {
            "bench": "voice",
            "case": "engine rtf",
            "engine": "pocketsphinx free + kws",
            "rtf": round(rtf, 3),
            "realtime_streams_per_core": round(1 / rtf, 1),
        }
    )
    pause = b"\0\0" * 9600
    loop = speech + pause
    audio = loop * int(args.seconds * 32000 // len(loop) + 1)
    audio = audio[: int(args.seconds * 32000) // FRAME * FRAME]

    state = state_dir()
    jwks, token = resident_identity(state)
    children = ChildServices(
        {
            "LILO_JWKS_FILE": jwks,
            "PATH": os.environ["PATH"],
            "LILO_VOICE_SCREENING": "off",
            "LILO_VOICE_SLOTS": str(args.slots),
        }
    )
    try:
        (address,) = children.start("services.voice", 1)
        asyncio.run(run(address, token, audio, args))
    finally:
        children.stop()


if __name__ == "__main__":
    main()
