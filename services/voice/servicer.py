"""VoiceServicer.StreamVoice: the bidi stream, its bounded pipeline and crisis screening.

Per stream two parts run: a reader task that validates client messages and puts chunks
on a queue bounded by ``window_chunks``, and the handler's generator that takes chunks
off the queue, runs VAD + recognition and yields responses. When the queue is full the
reader stops pulling from the request iterator, so gRPC's HTTP/2 flow control slows the
sender; when the client stops reading responses the generator blocks in ``yield``, the
queue fills and the reader stops too. Nothing buffers without bound.

Streams are pinned to one instance: clients send the conversation id (or a fresh id)
as the ``x-lilo-affinity-key`` header and the mesh client's ``ring_hash`` policy for
``lilo.voice.v1.VoiceService`` keeps every message of the stream on one instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from grpc import aio
from lilo.crisis.v1 import crisis_service_pb2 as crisis_pb
from lilo.safety.v1 import safety_service_pb2 as safety_pb
from lilo.voice.v1 import voice_service_pb2 as pb
from lilo.voice.v1 import voice_service_pb2_grpc as pb_grpc

from mesh import telemetry
from mesh.clock import Clock, SystemClock
from mesh.policy import method_policy
from mesh.status import InvalidArgument, Unavailable
from services.voice import EngineError
from services.voice.engine import (
    Recognition,
    RecognitionSession,
    SpeechEngine,
    VoiceActivityDetector,
    WebRtcVad,
)
from services.voice.logic import (
    ALERT_LEVEL_HIGH,
    CRISIS_PHRASES,
    FRAME_MS,
    MAX_CHUNK_BYTES,
    ConfigProblem,
    Edge,
    Framer,
    Segmenter,
    SegmenterConfig,
    SequenceProblem,
    SequenceTracker,
    StallLimits,
    StreamSettings,
    Waiting,
    crisis_phrases,
    is_crisis,
    stall_verdict,
    validate_config,
)

log = logging.getLogger(__name__)

CRISIS_SERVICE = "lilo.crisis.v1.CrisisService"
TRACE_HEADER = "x-lilo-trace-id"


@dataclass(frozen=True)
class VoiceConfig:
    window_chunks: int = 50
    """Chunks a client may have in flight past the last ack; also the queue bound."""
    suggested_chunk_ms: int = FRAME_MS
    screening: bool = True
    """Screen final transcripts through the crisis service (off for recognition pools)."""
    screening_timeout: float = 5.0
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    stall: StallLimits = field(default_factory=StallLimits)
    """When a client that stopped reading (or sending) has its stream ended."""
    watch_interval: float = 1.0
    """Seconds between the stall watchdog's looks at a stream."""

    def __post_init__(self) -> None:
        if self.window_chunks < 1:
            raise ValueError("window_chunks must be at least 1")
        if self.watch_interval <= 0:
            raise ValueError("watch_interval must be positive")


@dataclass
class StreamStats:
    """Counters of one stream. ``queued`` = chunks read but not yet processed (waiting or
    in hand); ``max_queued`` is its high-water mark, never above the window. ``unsent`` =
    responses handed to gRPC whose write has not completed (0 or 1: the handler waits in
    ``yield``); ``sent`` = responses written. ``waiting`` / ``waiting_since`` say what the
    handler is blocked on (for the stall watchdog), ``watched`` counts the watchdog's
    looks; ``ended_by`` names the stall that ended the stream, if one did."""

    stream_id: str
    received: int = 0
    processed: int = 0
    queued: int = 0
    max_queued: int = 0
    utterances: int = 0
    flags: int = 0
    unsent: int = 0
    sent: int = 0
    waiting: Waiting | None = None
    waiting_since: float = 0.0
    watched: int = 0
    ended_by: str = ""


@dataclass
class _Held:
    """What a stream holds that its cleanup must release."""

    session: RecognitionSession | None = None


@dataclass(frozen=True)
class _Chunk:
    sequence: int
    pcm: bytes


@dataclass(frozen=True)
class _End:
    last_sequence: int


@dataclass(frozen=True)
class _Fail:
    message: str


@dataclass(frozen=True)
class _Stalled:
    code: grpc.StatusCode
    message: str


_Item = _Chunk | _End | _Fail | _Stalled
_ABORT_WAIT = 1.0  # seconds the watchdog waits for a stalled stream's status to be queued
_POLICY = method_policy("/lilo.voice.v1.VoiceService/StreamVoice")

_CATEGORY = {
    name: safety_pb.CrisisCategory.Value(f"CRISIS_CATEGORY_{name}")
    for name in set(CRISIS_PHRASES.values())
}


def _duration(frame: int) -> Duration:
    ms = frame * FRAME_MS
    return Duration(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


class VoiceServicer(pb_grpc.VoiceServiceServicer):
    """Streams audio through ``engine`` and screens final transcripts via ``crisis``.

    ``crisis`` is a ``CrisisServiceStub`` (normally on the mesh client) or None, in which
    case a spotted crisis phrase still yields a SafetyFlag, without an alert id.
    """

    def __init__(
        self,
        engine: SpeechEngine,
        *,
        crisis: Any = None,
        access: Any = None,
        vad_factory: Any = WebRtcVad,
        config: VoiceConfig | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._crisis = crisis
        self._access = access
        self._vad_factory = vad_factory
        self.config = config or VoiceConfig()
        self._clock: Clock = clock or SystemClock()
        self.live: dict[str, StreamStats] = {}
        self.finished: deque[StreamStats] = deque(maxlen=256)
        self._ids = itertools.count(1)

    @property
    def live_streams(self) -> int:
        return len(self.live)

    async def StreamVoice(
        self,
        request_iterator: AsyncIterator[pb.StreamVoiceRequest],
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.StreamVoiceResponse]:
        trace_id = telemetry.current_trace_id() or uuid.uuid4().hex
        requests = request_iterator.__aiter__()
        try:
            first = await requests.__anext__()
        except StopAsyncIteration:
            raise InvalidArgument(
                "the stream ended before its first message: send config first"
            ) from None
        kind = first.WhichOneof("payload")
        if kind != "config":
            raise InvalidArgument(
                f"the first message must be config, not {kind or 'an empty message'}"
            )
        if self._access is not None:
            # The interceptor admitted the stream without a message to read the resident
            # from (client streaming); admit it again with the config, which names it.
            metadata = {
                k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)
            }
            await self._access.authorize(_POLICY, metadata, context, first)
        cfg = first.config
        try:
            settings = validate_config(
                encoding_name=pb.AudioEncoding.Name(cfg.encoding)
                if cfg.encoding in pb.AudioEncoding.values()
                else str(cfg.encoding),
                sample_rate_hertz=cfg.sample_rate_hertz,
                channels=cfg.channels,
                language_code=cfg.language_code,
                resident_id=cfg.resident_id,
                conversation_id=cfg.conversation_id,
                keyphrases=list(cfg.keyphrases),
            )
        except ConfigProblem as exc:
            raise InvalidArgument(str(exc)) from None

        stream_id = f"{uuid.uuid4().hex[:8]}-{next(self._ids)}"
        stats = StreamStats(stream_id)
        self.live[stream_id] = stats
        # Credits bound what is read but not yet processed (queued or in hand) to the window.
        credits = asyncio.Semaphore(self.config.window_chunks)
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        reader = asyncio.ensure_future(self._read(requests, queue, credits, stats))
        held = _Held()
        handler = asyncio.current_task()
        watchdog = asyncio.ensure_future(self._watch(stats, queue, context, handler))
        try:
            process = self._process(settings, queue, credits, stats, held, trace_id, context)
            async for response in process:
                stats.waiting, stats.waiting_since = Waiting.CLIENT_READ, self._clock.now()
                stats.unsent += 1
                yield response  # blocks while the client's HTTP/2 window is full
                stats.unsent -= 1
                stats.sent += 1
                stats.waiting = None
        finally:
            watchdog.cancel()
            reader.cancel()
            if held.session is not None:
                held.session.close()
            self.live.pop(stream_id, None)
            self.finished.append(stats)

    async def _process(
        self,
        settings: StreamSettings,
        queue: asyncio.Queue[_Item],
        credits: asyncio.Semaphore,
        stats: StreamStats,
        held: _Held,
        trace_id: str,
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.StreamVoiceResponse]:
        """VAD, segmentation and recognition of the queued chunks, in order."""
        window = self.config.window_chunks
        stream_id = stats.stream_id

        def out(**event: Any) -> pb.StreamVoiceResponse:
            return pb.StreamVoiceResponse(trace_id=trace_id, **event)

        def ack(sequence: int, final: bool = False) -> pb.StreamVoiceResponse:
            return out(
                ack=pb.Ack(
                    last_processed_sequence=sequence,
                    window_chunks=window,
                    suggested_chunk_duration=_duration(self.config.suggested_chunk_ms // FRAME_MS),
                    final=final,
                )
            )

        yield ack(0)
        try:
            session = held.session = await self._engine.open(
                settings.keyphrases, resident_id=settings.resident_id
            )
            vad: VoiceActivityDetector = self._vad_factory()
            segmenter = Segmenter(self.config.segmenter)
            framer = Framer()
            preroll: deque[bytes] = deque(maxlen=self.config.segmenter.preroll)
            utterance = _Utterance()
            last = 0
            while True:
                stats.waiting, stats.waiting_since = Waiting.CLIENT_AUDIO, self._clock.now()
                item = await queue.get()
                stats.waiting = None
                if isinstance(item, _Fail):
                    raise InvalidArgument(item.message)
                if isinstance(item, _Stalled):
                    await context.abort(item.code, item.message)
                if isinstance(item, _End):
                    for response in await self._end(
                        segmenter.flush(), session, utterance, settings.resident_id, stats, trace_id
                    ):
                        yield out(**response)
                    stats.processed = last
                    yield ack(last, final=True)
                    return
                if not isinstance(item, _Chunk):
                    continue
                batch: list[bytes] = []
                for frame in framer.frames(item.pcm):
                    events, in_speech = segmenter.push(vad.is_speech(frame))
                    for event in events:
                        if event.edge is Edge.START:
                            stats.utterances += 1
                            utterance = _Utterance(f"{stream_id}-u{stats.utterances}", event.frame)
                            yield out(
                                speech_event=pb.SpeechEvent(
                                    type=pb.SPEECH_EVENT_TYPE_START,
                                    audio_offset=_duration(event.frame),
                                )
                            )
                            await session.start_utterance()
                            batch = [*preroll]
                            preroll.clear()
                    if in_speech and utterance.active:
                        batch.append(frame)
                    else:
                        preroll.append(frame)
                    for event in events:
                        if event.edge is Edge.END:
                            partial = await session.feed(batch)
                            batch = []
                            del partial  # the final follows at once
                            for response in await self._end(
                                [event], session, utterance, settings.resident_id, stats, trace_id
                            ):
                                yield out(**response)
                if batch and utterance.active:
                    partial = await session.feed(batch)
                    if partial and partial != utterance.partial:
                        utterance.partial = partial
                        yield out(
                            transcript=pb.Transcript(
                                text=partial,
                                is_final=False,
                                utterance_id=utterance.id,
                                audio_start_offset=_duration(utterance.start),
                            )
                        )
                last = item.sequence
                stats.processed = last
                stats.queued = stats.received - last
                credits.release()
                yield ack(last)
        except EngineError as exc:
            # A recognizer fault (e.g. a worker process died) ends this stream only.
            log.error("voice stream %s: recognition failed: %s", stream_id, exc)
            raise Unavailable(
                f"speech recognition failed ({exc}); the stream was ended, start a new one"
            ) from None

    async def _watch(
        self,
        stats: StreamStats,
        queue: asyncio.Queue[_Item],
        context: aio.ServicerContext[Any, Any],
        handler: asyncio.Task[Any] | None,
    ) -> None:
        """End a stream whose client stopped reading (or stopped sending) for too long."""
        while True:
            await asyncio.sleep(self.config.watch_interval)
            stats.watched += 1
            waiting = stats.waiting
            now = self._clock.now()
            reason = stall_verdict(waiting, stats.waiting_since, now, self.config.stall)
            if reason is None:
                continue
            stats.ended_by = waiting.value if waiting is not None else ""
            log.warning("voice stream %s ended: %s", stats.stream_id, reason)
            if waiting is Waiting.CLIENT_AUDIO:
                # The handler is waiting on the queue: let it end the call with a status.
                queue.put_nowait(_Stalled(grpc.StatusCode.DEADLINE_EXCEEDED, reason))
                return
            # The handler is stuck in ``yield``, which only the client can unblock. The
            # status is queued behind the unread responses (the client sees it if it ever
            # reads); cancelling the handler runs its cleanup now.
            with contextlib.suppress(BaseException):  # abort always raises; it may not finish
                await asyncio.wait_for(
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, reason), _ABORT_WAIT
                )
            if handler is not None:
                handler.cancel()
            return

    async def _read(
        self,
        requests: AsyncIterator[pb.StreamVoiceRequest],
        queue: asyncio.Queue[_Item],
        credits: asyncio.Semaphore,
        stats: StreamStats,
    ) -> None:
        """Validate and queue client messages; stops reading while the queue is full."""
        tracker = SequenceTracker()
        try:
            while True:
                await credits.acquire()  # no credit: stop reading, HTTP/2 pushes back
                try:
                    request = await requests.__anext__()
                except StopAsyncIteration:
                    break
                kind = request.WhichOneof("payload")
                if kind == "chunk":
                    try:
                        tracker.accept(request.chunk.sequence)
                    except SequenceProblem as exc:
                        queue.put_nowait(_Fail(str(exc)))
                        return
                    if len(request.chunk.pcm) > MAX_CHUNK_BYTES:
                        queue.put_nowait(
                            _Fail(f"chunk.pcm of sequence {request.chunk.sequence} is over 64 KiB")
                        )
                        return
                    if len(request.chunk.pcm) % 2:
                        queue.put_nowait(
                            _Fail(f"chunk.pcm of sequence {request.chunk.sequence} has odd length")
                        )
                        return
                    stats.received += 1
                    queue.put_nowait(_Chunk(request.chunk.sequence, request.chunk.pcm))
                    stats.queued = stats.received - stats.processed
                    stats.max_queued = max(stats.max_queued, stats.queued)
                elif kind == "end_of_stream":
                    try:
                        tracker.check_end(request.end_of_stream.last_sequence)
                    except SequenceProblem as exc:
                        queue.put_nowait(_Fail(str(exc)))
                        return
                    queue.put_nowait(_End(tracker.last))
                    return
                elif kind == "config":
                    queue.put_nowait(_Fail("config was sent twice: it is only the first message"))
                    return
                else:
                    queue.put_nowait(
                        _Fail("a message carries no payload: send config, chunk or end_of_stream")
                    )
                    return
            # The client closed its side without end_of_stream: flush what was sent.
            queue.put_nowait(_End(tracker.last))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the call broke (e.g. cancelled by the client)
            log.debug("voice stream reader stopped: %s", exc)

    async def _end(
        self,
        events: list[Any],
        session: RecognitionSession,
        utterance: _Utterance,
        resident_id: str,
        stats: StreamStats,
        trace_id: str,
    ) -> list[dict[str, Any]]:
        """Close the utterance: END event, final transcript and, on a crisis, a SafetyFlag."""
        if not events or not utterance.active:
            return []
        end = events[0].frame
        utterance.active = False
        responses: list[dict[str, Any]] = [
            {
                "speech_event": pb.SpeechEvent(
                    type=pb.SPEECH_EVENT_TYPE_END, audio_offset=_duration(end)
                )
            }
        ]
        result = await session.end_utterance()
        responses.append(
            {
                "transcript": pb.Transcript(
                    text=result.text,
                    is_final=True,
                    confidence=result.confidence,
                    keyphrases=list(result.keyphrases),
                    utterance_id=utterance.id,
                    audio_start_offset=_duration(utterance.start),
                    audio_end_offset=_duration(end),
                )
            }
        )
        if self.config.screening and (result.text.strip() or result.keyphrases):
            flag = await self._screen(result, utterance.id, resident_id, trace_id)
            if flag is not None:
                stats.flags += 1
                responses.append({"safety_flag": flag})
        return responses

    async def _screen(
        self, result: Recognition, utterance_id: str, resident_id: str, trace_id: str
    ) -> pb.SafetyFlag | None:
        """Screen one final transcript; a crisis phrase without an alert from screening gets one."""
        phrases = crisis_phrases(result.keyphrases)
        level: int = safety_pb.CRISIS_LEVEL_NONE
        categories: list[int] = []
        action = safety_pb.RECOMMENDED_ACTION_CONTINUE
        alert_id = ""
        masked = ""
        content = result.text.strip() or ", ".join(result.keyphrases)
        metadata = ((TRACE_HEADER, trace_id),)
        if self._crisis is not None:
            try:
                screened = await self._crisis.ScreenContent(
                    crisis_pb.ScreenContentRequest(
                        resident_id=resident_id, content=content, source="voice"
                    ),
                    metadata=metadata,
                    timeout=self.config.screening_timeout,
                )
                analysis = screened.analysis
                level = analysis.crisis_level
                categories = list(analysis.crisis_categories)
                action = analysis.recommended_action
                masked = analysis.masked_content
                if screened.HasField("alert"):
                    alert_id = screened.alert.alert_id
            except grpc.RpcError as exc:
                log.error("voice screening failed for %s: %s", utterance_id, exc)
        if not is_crisis(level, phrases):
            return None
        if phrases:
            for phrase in phrases:
                category = _CATEGORY[CRISIS_PHRASES[phrase]]
                if category not in categories:
                    categories.append(category)
            level = max(level, ALERT_LEVEL_HIGH)
            action = max(action, safety_pb.RECOMMENDED_ACTION_IMMEDIATE_INTERVENTION)
            if not alert_id and self._crisis is not None:
                try:
                    created = await self._crisis.CreateAlert(
                        crisis_pb.CreateAlertRequest(
                            resident_id=resident_id,
                            source="voice",
                            level=level,  # type: ignore[arg-type]
                            categories=categories,  # type: ignore[arg-type]
                            excerpt=f"spoken: {', '.join(phrases)}; transcript: {content}",
                            idempotency_key=f"voice-{trace_id}-{utterance_id}",
                        ),
                        metadata=metadata,
                        timeout=self.config.screening_timeout,
                    )
                    alert_id = created.alert.alert_id
                except grpc.RpcError as exc:
                    log.error("voice alert for %s could not be raised: %s", utterance_id, exc)
        return pb.SafetyFlag(
            level=level,  # type: ignore[arg-type]
            categories=categories,  # type: ignore[arg-type]
            recommended_action=action,
            alert_id=alert_id,
            utterance_id=utterance_id,
            transcript=masked or content,
        )


@dataclass
class _Utterance:
    id: str = ""
    start: int = 0
    active: bool = False
    partial: str = ""

    def __post_init__(self) -> None:
        self.active = bool(self.id)
