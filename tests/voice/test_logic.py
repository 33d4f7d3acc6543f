"""Pure decisions of the voice service: config, sequencing, segmentation, crisis phrases."""

from __future__ import annotations

from typing import Any

import pytest

from services.voice.logic import (
    FRAME_BYTES,
    ConfigProblem,
    Edge,
    Framer,
    Segmenter,
    SegmenterConfig,
    SequenceProblem,
    SequenceTracker,
    is_crisis,
    phrases_in_text,
    validate_config,
)


def _config(**kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        encoding_name="AUDIO_ENCODING_PCM16",
        sample_rate_hertz=16000,
        channels=1,
        language_code="",
        resident_id="res-1",
        conversation_id="",
        keyphrases=[],
    )
    values.update(kw)
    return values


def test_config_accepts_pcm16_16k_mono_and_normalises_keyphrases() -> None:
    settings = validate_config(
        **_config(channels=0, keyphrases=["Call the NURSE", "call the nurse"])
    )
    assert settings.language_code == "en-US" and settings.keyphrases == ("call the nurse",)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"sample_rate_hertz": 8000}, "sample_rate_hertz 8000"),
        ({"encoding_name": "AUDIO_ENCODING_MULAW"}, "AUDIO_ENCODING_MULAW"),
        ({"channels": 2}, "channels 2"),
        ({"language_code": "fr-FR"}, "fr-FR"),
        ({"resident_id": " "}, "resident_id is required"),
        ({"keyphrases": ["!!"]}, "keyphrases[0]"),
    ],
)
def test_config_problems_name_the_field(change: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigProblem) as info:
        validate_config(**_config(**change))
    assert needle in str(info.value)
    if "resident" not in needle and "keyphrases" not in needle and "fr-FR" not in needle:
        assert "16000" in str(info.value) and "PCM16" in str(info.value)


def test_sequence_must_count_up_by_one_and_end_must_match() -> None:
    tracker = SequenceTracker()
    tracker.accept(1)
    tracker.accept(2)
    with pytest.raises(SequenceProblem, match=r"chunk\.sequence 2 is out of order: expected 3"):
        tracker.accept(2)
    with pytest.raises(SequenceProblem, match="last_sequence 5"):
        tracker.check_end(5)
    tracker.check_end(2)


def test_framer_keeps_the_remainder_between_chunks() -> None:
    framer = Framer()
    assert framer.frames(b"\0" * (FRAME_BYTES + 10)) == [b"\0" * FRAME_BYTES]
    assert len(framer.frames(b"\0" * (FRAME_BYTES - 10))) == 1
    assert framer.frames(b"\0" * 4) == []


def _run(segmenter: Segmenter, pattern: str) -> list[tuple[Edge, int]]:
    out = []
    for ch in pattern:
        events, _ = segmenter.push(ch == "#")
        out += [(e.edge, e.frame) for e in events]
    out += [(e.edge, e.frame) for e in segmenter.flush()]
    return out


def test_segmenter_needs_several_voiced_frames_and_bridges_short_pauses() -> None:
    cfg = SegmenterConfig(start_window=6, start_voiced=4, hangover=5)
    # Isolated clicks never start speech.
    assert _run(Segmenter(cfg), "..#...#..#....#.....") == []
    # Speech from frame 3 to 12 with a 3-frame pause inside: one utterance, ends after 12.
    events = _run(Segmenter(cfg), "...####...######.........")
    assert events == [(Edge.START, 3), (Edge.END, 16)]


def test_segmenter_cuts_overlong_utterances_and_flushes_at_end() -> None:
    cfg = SegmenterConfig(start_window=2, start_voiced=2, hangover=5, max_frames=10)
    events = _run(Segmenter(cfg), "#" * 25)
    assert [e for e, _ in events] == [
        Edge.START,
        Edge.END,
        Edge.START,
        Edge.END,
        Edge.START,
        Edge.END,
    ]
    assert events[1] == (Edge.END, 10)


def test_phrases_match_whole_words_and_crisis_needs_high_or_a_crisis_phrase() -> None:
    assert phrases_in_text("We want to KILL myself!", ["kill myself", "help me"]) == ["kill myself"]
    assert phrases_in_text("helpmeet", ["help me"]) == []
    assert is_crisis(4, []) and is_crisis(1, ["i fell"])
    assert not is_crisis(3, ["call the nurse"])


def test_stall_verdict_ends_only_a_stall_that_lasted_its_limit() -> None:
    from services.voice.logic import StallLimits, Waiting, stall_verdict

    limits = StallLimits(unread_timeout=30, idle_timeout=10)
    assert stall_verdict(None, 0, 1000, limits) is None  # busy decoding: never a stall
    assert stall_verdict(Waiting.CLIENT_READ, 100, 129.9, limits) is None
    unread = stall_verdict(Waiting.CLIENT_READ, 100, 130, limits)
    assert unread is not None and "read no responses for 30 s" in unread
    assert stall_verdict(Waiting.CLIENT_AUDIO, 100, 109.9, limits) is None
    idle = stall_verdict(Waiting.CLIENT_AUDIO, 100, 110, limits)
    assert idle is not None and "no audio for 10 s" in idle
    with pytest.raises(ValueError):
        StallLimits(unread_timeout=0)
