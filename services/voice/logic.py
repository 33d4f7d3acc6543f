"""Pure decisions of the voice service: config checks, sequencing, speech segmentation, crisis.

Nothing here does I/O or reads a clock: time is the audio's own offset, counted in
20 ms frames from the first sample of the stream.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

SAMPLE_RATE = 16_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2  # PCM16 mono
MAX_CHUNK_BYTES = 64 * 1024
MAX_KEYPHRASES = 20
MAX_KEYPHRASE_CHARS = 64
SUPPORTED = "encoding AUDIO_ENCODING_PCM16, sample_rate_hertz 16000, channels 1 (or 0)"

# Built-in crisis phrases (lower case, as the recognizer's dictionary spells them) and
# the category each one signals. Screening by the crisis service may find more.
CRISIS_PHRASES: dict[str, str] = {
    "help me": "SEVERE_DISTRESS",
    "i want to die": "SUICIDAL_IDEATION",
    "kill myself": "SUICIDAL_IDEATION",
    "end my life": "SUICIDAL_IDEATION",
    "hurt myself": "SELF_HARM",
    "i fell": "MEDICAL_EMERGENCY",
    "i have fallen": "MEDICAL_EMERGENCY",
    "can't breathe": "MEDICAL_EMERGENCY",
    "chest pain": "MEDICAL_EMERGENCY",
}


class ConfigProblem(ValueError):
    """The AudioConfig cannot be served; the message names the field and what is supported."""


@dataclass(frozen=True)
class StreamSettings:
    """What a validated AudioConfig means for the stream."""

    resident_id: str
    conversation_id: str
    language_code: str
    keyphrases: tuple[str, ...]


def validate_config(
    *,
    encoding_name: str,
    sample_rate_hertz: int,
    channels: int,
    language_code: str,
    resident_id: str,
    conversation_id: str,
    keyphrases: Sequence[str],
) -> StreamSettings:
    """Accept only what the engine can decode; raise ``ConfigProblem`` saying what is supported."""
    if encoding_name != "AUDIO_ENCODING_PCM16":
        raise ConfigProblem(
            f"config.encoding {encoding_name} is not supported; supported: {SUPPORTED}"
        )
    if sample_rate_hertz != SAMPLE_RATE:
        raise ConfigProblem(
            f"config.sample_rate_hertz {sample_rate_hertz} is not supported; supported: {SUPPORTED}"
        )
    if channels not in (0, 1):
        raise ConfigProblem(f"config.channels {channels} is not supported; supported: {SUPPORTED}")
    language = language_code or "en-US"
    if language.lower() not in ("en-us", "en"):
        raise ConfigProblem(f"config.language_code {language!r} is not supported; supported: en-US")
    if not resident_id.strip():
        raise ConfigProblem("config.resident_id is required: alerts are raised for this resident")
    if len(keyphrases) > MAX_KEYPHRASES:
        raise ConfigProblem(
            f"config.keyphrases has {len(keyphrases)} entries; at most {MAX_KEYPHRASES}"
        )
    phrases: list[str] = []
    for index, phrase in enumerate(keyphrases):
        norm = normalize_text(phrase)
        if not norm or len(phrase) > MAX_KEYPHRASE_CHARS:
            raise ConfigProblem(
                f"config.keyphrases[{index}] must be 1 to {MAX_KEYPHRASE_CHARS} characters of words"
            )
        if norm not in phrases:
            phrases.append(norm)
    return StreamSettings(resident_id, conversation_id, language, tuple(phrases))


class SequenceProblem(ValueError):
    """A chunk's sequence is not one more than the previous one."""


@dataclass
class SequenceTracker:
    """Chunks are numbered 1, 2, 3...; anything else is a contract violation."""

    last: int = 0

    def accept(self, sequence: int) -> None:
        if sequence != self.last + 1:
            raise SequenceProblem(
                f"chunk.sequence {sequence} is out of order: expected {self.last + 1}"
            )
        self.last = sequence

    def check_end(self, last_sequence: int) -> None:
        if last_sequence != self.last:
            raise SequenceProblem(
                f"end_of_stream.last_sequence {last_sequence} does not match the last chunk "
                f"received ({self.last}): a chunk went missing"
            )


class Framer:
    """Cuts a byte stream of PCM16 into whole 20 ms frames, keeping the remainder."""

    def __init__(self) -> None:
        self._rest = b""

    def frames(self, pcm: bytes) -> list[bytes]:
        data = self._rest + pcm
        cut = len(data) - len(data) % FRAME_BYTES
        self._rest = data[cut:]
        return [data[i : i + FRAME_BYTES] for i in range(0, cut, FRAME_BYTES)]


class Edge(Enum):
    START = 1
    END = 2


@dataclass(frozen=True)
class SegmentEvent:
    """Speech began or ended; ``frame`` is the 0-based frame index where it happened."""

    edge: Edge
    frame: int


@dataclass(frozen=True)
class SegmenterConfig:
    """Hysteresis of the detector: ``start_voiced`` of the last ``start_window`` frames voiced
    starts speech; ``hangover`` unvoiced frames in a row end it (short pauses between words
    and after commas stay inside one utterance); an utterance is cut at ``max_frames``."""

    start_window: int = 6
    start_voiced: int = 4
    hangover: int = 25
    preroll: int = 10
    max_frames: int = 1500  # 30 s

    def __post_init__(self) -> None:
        if not 0 < self.start_voiced <= self.start_window:
            raise ValueError("start_voiced must be between 1 and start_window")
        if self.hangover < 1 or self.max_frames < self.start_window or self.preroll < 0:
            raise ValueError("hangover, max_frames and preroll must be positive")


@dataclass
class Segmenter:
    """Turns per-frame voiced/unvoiced decisions into START/END events (with hangover).

    ``push`` returns the events caused by one frame and whether the frame belongs to
    speech (the caller feeds exactly those frames, plus the pre-roll on START, to the
    recognizer).
    """

    config: SegmenterConfig = field(default_factory=SegmenterConfig)
    frame: int = 0
    in_speech: bool = False
    _recent: deque[bool] = field(default_factory=deque)
    _silent_run: int = 0
    _last_voiced: int = 0
    _started: int = 0

    def push(self, voiced: bool) -> tuple[list[SegmentEvent], bool]:
        cfg = self.config
        index = self.frame
        self.frame += 1
        events: list[SegmentEvent] = []
        if not self.in_speech:
            self._recent.append(voiced)
            if len(self._recent) > cfg.start_window:
                self._recent.popleft()
            if sum(self._recent) >= cfg.start_voiced:
                # Speech started at the first voiced frame of the triggering window.
                first = index - len(self._recent) + 1 + list(self._recent).index(True)
                self.in_speech = True
                self._started = first
                self._silent_run = 0
                self._last_voiced = index
                self._recent.clear()
                events.append(SegmentEvent(Edge.START, first))
                return events, True
            return events, False
        if voiced:
            self._silent_run = 0
            self._last_voiced = index
        else:
            self._silent_run += 1
        if self._silent_run >= cfg.hangover or index - self._started + 1 >= cfg.max_frames:
            events.append(self._end())
        return events, True

    def flush(self) -> list[SegmentEvent]:
        """End of audio: close an open utterance."""
        return [self._end()] if self.in_speech else []

    def _end(self) -> SegmentEvent:
        self.in_speech = False
        self._silent_run = 0
        self._recent.clear()
        return SegmentEvent(Edge.END, self._last_voiced + 1)


_WORD = re.compile(r"[a-z']+")


def normalize_text(text: str) -> str:
    """Lower case words separated by single spaces (apostrophes kept: "can't")."""
    return " ".join(_WORD.findall(text.lower().replace("\u2019", "'")))


def phrases_in_text(text: str, phrases: Iterable[str]) -> list[str]:
    """The phrases that occur in ``text`` as whole words, in the order given."""
    padded = f" {normalize_text(text)} "
    return [p for p in phrases if f" {p} " in padded]


def merge_unique(*groups: Iterable[str]) -> list[str]:
    out: list[str] = []
    for group in groups:
        for item in group:
            if item not in out:
                out.append(item)
    return out


def crisis_phrases(keyphrases: Iterable[str]) -> list[str]:
    """The built-in crisis phrases among ``keyphrases``."""
    return [p for p in keyphrases if p in CRISIS_PHRASES]


ALERT_LEVEL_HIGH = 4  # lilo.safety.v1.CRISIS_LEVEL_HIGH


def is_crisis(level: int, keyphrases: Sequence[str]) -> bool:
    """A crisis: screening said HIGH or worse, or a built-in crisis phrase was heard."""
    return level >= ALERT_LEVEL_HIGH or bool(crisis_phrases(keyphrases))


class Waiting(Enum):
    """What a stream's handler is blocked on, for the stall watchdog."""

    CLIENT_READ = "client_read"
    """In ``yield``: the transport will not take more responses until the client reads."""
    CLIENT_AUDIO = "client_audio"
    """Nothing queued: waiting for the client's next message."""


@dataclass(frozen=True)
class StallLimits:
    unread_timeout: float = 30.0
    """Seconds a response may wait for the client to read before the stream is ended."""
    idle_timeout: float = 30.0
    """Seconds without any client message (audio or end) before the stream is ended."""

    def __post_init__(self) -> None:
        if self.unread_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("stall timeouts must be positive")


def stall_verdict(
    waiting: Waiting | None, since: float, now: float, limits: StallLimits
) -> str | None:
    """Why a stream blocked on ``waiting`` since ``since`` must end now, or None."""
    if waiting is Waiting.CLIENT_READ and now - since >= limits.unread_timeout:
        return (
            f"the client read no responses for {limits.unread_timeout:g} s: the stream was "
            "ended to free its recognizer; read responses while sending"
        )
    if waiting is Waiting.CLIENT_AUDIO and now - since >= limits.idle_timeout:
        return (
            f"no audio for {limits.idle_timeout:g} s: the stream was ended; send chunks in "
            "real time and end_of_stream when done"
        )
    return None
