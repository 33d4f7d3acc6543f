"""Speech engines and voice-activity detectors behind the voice servicer.

``SpeechEngine.open`` gives a per-stream ``RecognitionSession``; the servicer calls
``start_utterance``, ``feed`` (20 ms PCM16 16 kHz mono frames; returns the current
partial text or None) and ``end_utterance`` (the final ``Recognition``) for every
utterance the VAD finds, and ``close`` (synchronous, safe to call from a cancelled
task) when the stream ends.

``PocketSphinxEngine`` keeps a bounded pool of recognizer slots (a free-transcription
decoder plus a keyword-spotting decoder, ~100 MB each): a stream holds a slot for one
utterance. When every slot is busy, the utterance's frames are buffered (at most
``SegmenterConfig.max_frames``) and decoded in one go once a slot frees; such an
utterance gets no partials. pocketsphinx holds the GIL while decoding, so the slots run
on a dedicated thread pool to keep the event loop responsive, not to run in parallel.

``RemoteEngine`` sends each utterance to another VoiceService (through the mesh) and
returns its transcript: recognition capacity then scales with instances.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import tempfile
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from services.voice import EngineError
from services.voice.logic import (
    CRISIS_PHRASES,
    FRAME_BYTES,
    SAMPLE_RATE,
    merge_unique,
    normalize_text,
    phrases_in_text,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recognition:
    """The final result of one utterance."""

    text: str
    confidence: float
    keyphrases: tuple[str, ...]


class RecognitionSession(Protocol):
    async def start_utterance(self) -> None: ...

    async def feed(self, frames: Sequence[bytes]) -> str | None:
        """Feed speech frames; return the partial transcript when one is due, else None."""
        ...

    async def end_utterance(self) -> Recognition: ...

    def close(self) -> None:
        """Release everything the session holds; must not await (called while cancelled)."""
        ...


class SpeechEngine(Protocol):
    async def open(self, keyphrases: Sequence[str], *, resident_id: str) -> RecognitionSession:
        """A session for one stream; ``keyphrases`` are extra phrases next to the built-in ones."""
        ...


class VoiceActivityDetector(Protocol):
    def is_speech(self, frame: bytes) -> bool:
        """Whether one 20 ms PCM16 16 kHz mono frame holds speech."""
        ...


class WebRtcVad:
    """webrtcvad (``webrtcvad-wheels``) plus an energy floor.

    Aggressiveness 3 (strictest): at 2, webrtcvad adapts to a quiet room's hiss after an
    utterance and calls it speech. Frames whose RMS is under ``min_rms`` (of 32767) are
    silence whatever the detector says.
    """

    def __init__(self, aggressiveness: int = 3, min_rms: float = 50.0) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._min_square = min_rms * min_rms

    def is_speech(self, frame: bytes) -> bool:
        if not self._vad.is_speech(frame, SAMPLE_RATE):
            return False
        samples = array("h", frame)
        return sum(x * x for x in samples) >= self._min_square * len(samples)


# Keyword-spotting thresholds per phrase, tuned on espeak-ng speech (see docs): longer
# phrases accumulate lower scores and need a lower threshold; "i fell" is short and
# confusable, so it is strict.
KWS_THRESHOLDS: dict[str, float] = {
    "help me": 1e-50,
    "i want to die": 1e-55,
    "kill myself": 1e-45,
    "end my life": 1e-50,
    "hurt myself": 1e-50,
    "i fell": 1e-30,
    "i have fallen": 1e-50,
    "can't breathe": 1e-45,
    "chest pain": 1e-40,
}


@dataclass(frozen=True)
class PocketSphinxConfig:
    slots: int = 2
    """Recognizer slots (utterances decoded at once); each costs ~100 MB."""
    partial_every: int = 25
    """Frames between partial transcripts (25 = 0.5 s)."""
    second_pass: bool = False
    """pocketsphinx's fwdflat pass at the end of each utterance (costly, see ``_Slot``)."""
    kws_thresholds: dict[str, float] = field(default_factory=lambda: dict(KWS_THRESHOLDS))


class _Slot:
    """One free decoder and one keyword-spotting decoder; used by one thread at a time."""

    def __init__(self, kws_file: str, second_pass: bool = False) -> None:
        from pocketsphinx import Decoder

        # fwdflat (the second pass) re-searches the whole utterance at end_utt: ~440 ms per
        # 3 s utterance on this machine, for no better transcripts of our test speech.
        self.free = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", fwdflat=second_pass)
        self.kws = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", kws=kws_file)
        self.active = False
        self.frames = 0
        self.hits: list[str] = []

    def start(self) -> None:
        if self.active:
            self.free.end_utt()
            self.kws.end_utt()
        self.free.start_utt()
        self.kws.start_utt()
        self.active = True
        self.frames = 0
        self.hits = []

    def feed(self, frames: Sequence[bytes], partial_every: int) -> str | None:
        """Decode ``frames`` in one call per decoder (per-frame calls cost ~1.7x the CPU).

        Keyword hits are read once per call; a partial is returned when the frame count
        crossed a multiple of ``partial_every``."""
        pcm = b"".join(frames)
        count = len(pcm) // FRAME_BYTES
        if not pcm:
            return None
        self.free.process_raw(pcm)
        self.kws.process_raw(pcm)
        hyp = self.kws.hyp()
        if hyp is not None and hyp.hypstr.strip():
            self.hits.append(hyp.hypstr.strip())
            # Restart spotting so the same detection is not reported again.
            self.kws.end_utt()
            self.kws.start_utt()
        before, self.frames = self.frames, self.frames + count
        if before // partial_every == self.frames // partial_every:
            return None
        free_hyp = self.free.hyp()
        return free_hyp.hypstr if free_hyp is not None else ""

    def end(self) -> tuple[str, float, list[str]]:
        self.free.end_utt()
        self.kws.end_utt()
        self.active = False
        hyp = self.free.hyp()
        kws_hyp = self.kws.hyp()
        if kws_hyp is not None and kws_hyp.hypstr.strip():
            self.hits.append(kws_hyp.hypstr.strip())
        text = hyp.hypstr if hyp is not None else ""
        confidence = min(1.0, max(0.0, float(hyp.prob))) if hyp is not None else 0.0
        return text, confidence, self.hits


class PocketSphinxEngine:
    """pocketsphinx en-US (model bundled in the wheel) with crisis keyword spotting."""

    def __init__(self, config: PocketSphinxConfig | None = None) -> None:
        self.config = config or PocketSphinxConfig()
        if self.config.slots < 1:
            raise EngineError("slots must be at least 1")
        self._kws_dir = tempfile.TemporaryDirectory(prefix="lilo-voice-kws-")
        self._kws_file = str(Path(self._kws_dir.name) / "crisis.kws")
        Path(self._kws_file).write_text(
            "".join(f"{p} /{t:g}/\n" for p, t in self.config.kws_thresholds.items())
        )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self.config.slots, thread_name_prefix="voice-asr"
        )
        self._free: list[_Slot] = []
        self._created = 0
        self._waiters: list[asyncio.Future[_Slot]] = []
        self.busy = 0

    @staticmethod
    def model_path() -> str:
        import pocketsphinx

        return str(pocketsphinx.get_model_path())

    async def warm(self) -> None:
        """Create every slot now (about a second each) instead of on first use."""
        slots = [await self._make() for _ in range(self.config.slots - self._created)]
        for slot in slots:
            self._release(slot)

    async def open(self, keyphrases: Sequence[str], *, resident_id: str) -> RecognitionSession:
        return _SphinxSession(self, tuple(keyphrases))

    def run(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _make(self) -> _Slot:
        self._created += 1
        try:
            second = self.config.second_pass
            return await self.run(lambda: _Slot(self._kws_file, second))  # type: ignore[no-any-return]
        except Exception as exc:
            self._created -= 1
            raise EngineError(f"cannot create a pocketsphinx decoder: {exc}") from exc

    def try_acquire(self) -> _Slot | None:
        if self._free:
            self.busy += 1
            return self._free.pop()
        return None

    async def acquire(self) -> _Slot:
        slot = self.try_acquire()
        if slot is not None:
            return slot
        if self._created < self.config.slots:
            self.busy += 1
            try:
                return await self._make()
            except BaseException:
                self.busy -= 1
                raise
        waiter: asyncio.Future[_Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            slot = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        self.busy += 1
        return slot

    def release(self, slot: _Slot) -> None:
        self.busy -= 1
        self._release(slot)

    def _release(self, slot: _Slot) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.append(slot)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._kws_dir.cleanup()


class _SphinxSession:
    def __init__(self, engine: PocketSphinxEngine, extra: tuple[str, ...]) -> None:
        self._engine = engine
        self._phrases = merge_unique(CRISIS_PHRASES, extra)
        self._slot: _Slot | None = None
        self._pending: list[bytes] = []
        self._inflight: asyncio.Future[Any] | None = None

    async def _call(self, fn: Callable[[], Any]) -> Any:
        # The executor keeps running a call whose awaiting task was cancelled; close()
        # releases the slot only once that call has finished.
        self._inflight = self._engine.run(fn)
        return await asyncio.shield(self._inflight)

    async def start_utterance(self) -> None:
        self._pending = []
        self._slot = self._engine.try_acquire()
        if self._slot is not None:
            await self._call(self._slot.start)

    async def feed(self, frames: Sequence[bytes]) -> str | None:
        slot = self._slot
        if slot is None:
            self._pending.extend(frames)
            return None
        every = self._engine.config.partial_every
        result: str | None = await self._call(lambda: slot.feed(frames, every))
        return result

    async def end_utterance(self) -> Recognition:
        if self._slot is None:
            self._slot = await self._engine.acquire()
            slot, pending = self._slot, self._pending
            self._pending = []
            await self._call(slot.start)
            await self._call(lambda: slot.feed(pending, 1 << 30))
        slot = self._slot
        text, confidence, hits = await self._call(slot.end)
        self._slot = None
        self._engine.release(slot)
        spotted = [normalize_text(h) for h in hits]
        keyphrases = merge_unique(
            [p for p in self._phrases if any(p in s for s in spotted)],
            phrases_in_text(text, self._phrases),
        )
        return Recognition(text, confidence, tuple(keyphrases))

    def close(self) -> None:
        slot, self._slot = self._slot, None
        if slot is None:
            return
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            inflight.add_done_callback(lambda _: self._engine.release(slot))
        else:
            self._engine.release(slot)


class RemoteEngine:
    """Recognition by another VoiceService: each utterance is one StreamVoice call.

    ``stub`` is a ``VoiceServiceStub`` (normally on ``MeshClient.channel(VOICE)``). The
    remote service runs its own VAD over the utterance's frames and its finals are
    joined; run the target with screening off (``LILO_VOICE_SCREENING=off``) so a crisis
    is flagged once, by the stream the resident is on.
    """

    def __init__(self, stub: Any, metadata: Sequence[tuple[str, str]] = ()) -> None:
        self._stub = stub
        self._metadata = tuple(metadata)
        self._ids = itertools.count(1)

    async def open(self, keyphrases: Sequence[str], *, resident_id: str) -> RecognitionSession:
        return _RemoteSession(self, tuple(keyphrases), resident_id)


class _RemoteSession:
    def __init__(self, engine: RemoteEngine, keyphrases: tuple[str, ...], resident_id: str) -> None:
        self._engine = engine
        self._keyphrases = keyphrases
        self._resident_id = resident_id
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._sequence = 0
        self._partial: str | None = None
        self._finals: list[tuple[str, float, list[str]]] = []

    async def start_utterance(self) -> None:
        from lilo.voice.v1 import voice_service_pb2 as pb

        self.close()
        self._sequence = 0
        self._finals = []
        self._partial = None
        key = f"{self._resident_id}-{next(self._engine._ids)}"
        self._call = self._engine._stub.StreamVoice(
            metadata=(*self._engine._metadata, ("x-lilo-affinity-key", key))
        )
        await self._call.write(
            pb.StreamVoiceRequest(
                config=pb.AudioConfig(
                    encoding=pb.AUDIO_ENCODING_PCM16,
                    sample_rate_hertz=SAMPLE_RATE,
                    channels=1,
                    resident_id=self._resident_id,
                    keyphrases=list(self._keyphrases),
                )
            )
        )
        self._reader = asyncio.ensure_future(self._read(self._call))

    async def _read(self, call: Any) -> None:
        async for response in call:
            if response.WhichOneof("event") == "transcript":
                t = response.transcript
                if t.is_final:
                    self._finals.append((t.text, t.confidence, list(t.keyphrases)))
                else:
                    self._partial = t.text

    async def feed(self, frames: Sequence[bytes]) -> str | None:
        from lilo.voice.v1 import voice_service_pb2 as pb

        if not frames:
            return None
        pcm = b"".join(frames)
        # Chunks of at most 200 ms, as the contract asks.
        for i in range(0, len(pcm), FRAME_BYTES * 10):
            self._sequence += 1
            await self._call.write(
                pb.StreamVoiceRequest(
                    chunk=pb.AudioChunk(sequence=self._sequence, pcm=pcm[i : i + FRAME_BYTES * 10])
                )
            )
        partial, self._partial = self._partial, None
        return partial

    async def end_utterance(self) -> Recognition:
        from lilo.voice.v1 import voice_service_pb2 as pb

        await self._call.write(
            pb.StreamVoiceRequest(end_of_stream=pb.EndOfStream(last_sequence=self._sequence))
        )
        await self._call.done_writing()
        assert self._reader is not None
        await self._reader
        self._reader = None
        self._call = None
        finals = self._finals
        text = " ".join(t for t, _, _ in finals if t)
        confidence = sum(c for _, c, _ in finals) / len(finals) if finals else 0.0
        keyphrases = merge_unique(*(k for _, _, k in finals))
        return Recognition(text, confidence, tuple(keyphrases))

    def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self._call is not None:
            self._call.cancel()
            self._call = None
