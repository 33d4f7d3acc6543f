"""Crisis detectors: the ``Detector`` protocol, ``RuleDetector`` and ``CompositeDetector``.

A detector is a pure function from a message to an ``Analysis``: no I/O, no clock, no
randomness, so the same text always gets the same verdict.

How ``RuleDetector`` reads a message (each step is a small function below):

1. PHI spans are found and masked on the original text (``services.safety.phi``).
2. The text is normalised (``normalize``): typos, text-speak and leetspeak are rewritten.
3. Idioms are blanked out ("this traffic is killing me") and noted.
4. Each sentence about media or fiction, or about training and general information, is
   skipped ("the man on TV said ...", "signs of a stroke include ...").
5. Each rule match is dropped if its clause negates it ("I'm not going to hurt myself"),
   is addressed to the listener ("are you having thoughts of suicide?"), has an innocent
   context ("cut myself shaving") or, for threats, is followed by a laugh.
6. Matches in a sentence set in the past are capped ("years ago I tried" -> LOW).
7. Current suicidal, self-harm or violent intent becomes CRITICAL when means are at hand
   or the plan has a time ("tonight").
8. A message that reads as routine medication or care talk, with no danger word, is noted
   (``ROUTINE``); it changes no rule verdict.
9. Clinical observations written as numbers ("BP 72/40, HR 130", "NEWS2 8") are graded
   by ``services.safety.vitals`` on the original text, sentence by sentence, with the
   same media, training and time-marker handling as the word rules.

The notes in ``CONTEXT_DISCOUNTS`` tell the rules+model detector that the rules explained
the message's crisis words away (services.safety.classifier).

The level is the highest surviving signal; categories are the union of all signals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from services.safety import DetectorConfigError
from services.safety.model import (
    Analysis,
    CrisisCategory,
    CrisisLevel,
    RecommendedAction,
    make_analysis,
)
from services.safety.normalize import normalize
from services.safety.phi import find_phi, mask, merge_spans
from services.safety.rules import (
    ASLEEP,
    BENIGN_CONTEXT,
    CLAUSE_BREAK,
    COMMITMENT,
    FIRST_AND_THIRD_PERSON,
    FUTURE,
    IDIOMS,
    IMMINENT,
    JOKE,
    MEANS,
    MEDIA,
    NEGATED_THOUGHTS,
    NEGATORS,
    PRESENT_OVERRIDE,
    ROUTINE_CARE,
    ROUTINE_DANGER,
    RULES,
    SECOND_PERSON,
    SELF_FOCUSED,
    SUMMONING_VERBS,
    TEACHING,
    TIME_CAPS,
    Rule,
)
from services.safety.vitals import assess as assess_observations

__all__ = [
    "CONTEXT_DISCOUNTS",
    "Analysis",
    "CompositeDetector",
    "CrisisCategory",
    "CrisisLevel",
    "Detector",
    "RecommendedAction",
    "RuleDetector",
    "combine",
]

# How many words before a match a negation may stand: "I would never ever kill myself".
NEGATION_WINDOW = 4

# Categories whose current intent can escalate to CRITICAL when means or a time are named.
_ESCALATABLE = frozenset(
    {
        CrisisCategory.SUICIDAL_IDEATION,
        CrisisCategory.SELF_HARM,
        CrisisCategory.HARM_TO_OTHERS,
    }
)

# Notes for a rule match dropped because of its context (not because it is in the past).
# The model detector reads them: a message whose crisis words the rules saw and explained
# away is not raised to HIGH by the model alone (see services.safety.classifier).
NEGATED = "ignored a negated mention"
ADDRESSED_TO_LISTENER = "ignored a mention addressed to the listener"
INNOCENT_CONTEXT = "ignored a mention in an innocent context"
JOKING_THREAT = "ignored a threat marked as a joke"
SLEEP_TALK = "ignored a threat spoken in sleep"
ABOUT_MEDIA = "ignored a sentence about the news, TV or fiction"
ABOUT_TEACHING = "ignored a sentence about training or general information"
IDIOM = "ignored a figure of speech"
# Not a dropped match: a note that the message reads as routine medication or care talk
# ("takes his statin at night"), so that the model alone does not raise it to HIGH.
ROUTINE = "reads as routine medication or care talk"
CONTEXT_DISCOUNTS = frozenset(
    {
        NEGATED,
        ADDRESSED_TO_LISTENER,
        INNOCENT_CONTEXT,
        JOKING_THREAT,
        SLEEP_TALK,
        ABOUT_MEDIA,
        ABOUT_TEACHING,
        IDIOM,
        ROUTINE,
    }
)

# Negators that reach across "or" to a list's later items ("no self-harm or suicidal
# thoughts"); verb negations ("don't know whether to … or …") do not.
_LIST_NEGATORS = frozenset(
    {"no", "never", "neither", "nor", "denies", "denied", "deny", "denying", "nobody", "noone"}
)

# A discounted match of a rule below this level (a negated "worried", "don't worry about
# me") is noted as ``MINOR_DISCOUNT``, which does not guard against the model: the guard is
# for crisis words explained away, not for any word explained away.
GUARD_MIN_LEVEL = CrisisLevel.MEDIUM
MINOR_DISCOUNT = "ignored a minor mention in its context"

# A "?" ends a sentence only after a word: staff write "? sepsis" for "query sepsis".
_SENTENCE_END = re.compile(r"(?<=[.!])\s+|(?<=\S\?)\s+|\n+")
_WORD = re.compile(r"[\w']+")


class Detector(Protocol):
    """Anything that can screen one message. Implementations must be pure."""

    def analyze(self, text: str) -> Analysis:
        """Return the verdict on ``text``."""
        ...


@dataclass(frozen=True)
class Signal:
    """One surviving rule match. ``current`` is False once a time marker capped it."""

    categories: tuple[CrisisCategory, ...]
    level: CrisisLevel
    reason: str
    sentence: str
    current: bool = True


# --- steps ----------------------------------------------------------------------------------


def split_sentences(text: str) -> list[str]:
    """Split on sentence punctuation and line breaks; empty pieces are dropped."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _clause_before(sentence: str, position: int, through_or: bool = False) -> str:
    """The text between the last clause boundary and ``position``.

    With ``through_or``, "or" and "nor" are not boundaries: a negation covers a list
    ("denies any thoughts of self-harm or suicide")."""
    start = 0
    for boundary in CLAUSE_BREAK.finditer(sentence, 0, position):
        if through_or and boundary.group().lower() in ("or", "nor"):
            continue
        start = boundary.end()
    return sentence[start:position]


def is_negated(sentence: str, position: int) -> bool:
    """True if a negator stands within ``NEGATION_WINDOW`` words before ``position``.

    Words joined by "or" count as one list, so across an "or" the window is twice as long
    ("she denies any thoughts of self-harm or suicide"), for the negators that govern a
    list (``_LIST_NEGATORS``): "I don't know whether to laugh or kill myself" still counts."""
    clause = _clause_before(sentence, position)
    if NEGATED_THOUGHTS.search(clause):
        return True
    words = _WORD.findall(clause.lower())
    window = range(max(0, len(words) - NEGATION_WINDOW), len(words))
    # "can not" is "can't", deliberately no negator: "I can not stop thinking about …".
    if any(words[i] in NEGATORS and words[i - 1 : i] != ["can"] for i in window):
        return True
    longer = _clause_before(sentence, position, through_or=True)
    if len(longer) == len(clause):
        return False
    head = _WORD.findall(longer[: len(longer) - len(clause)].lower())
    return any(word in _LIST_NEGATORS for word in head[-2 * NEGATION_WINDOW :])


def is_addressed_to_listener(sentence: str, position: int) -> bool:
    """True if the nearest personal pronoun before ``position`` is "you" as a subject.

    A "you" that a verb summons is its object, not the one the danger is about: in "rm 12
    needs you NOW not breathing right" someone else is not breathing."""
    words = _WORD.findall(_clause_before(sentence, position).lower())
    for index in range(len(words) - 1, -1, -1):
        word = words[index]
        if word in SECOND_PERSON:
            if word == "you" and index > 0 and words[index - 1] in SUMMONING_VERBS:
                continue
            return True
        if word in FIRST_AND_THIRD_PERSON:
            return False
    return False


def _mentions(pattern: re.Pattern[str], sentence: str) -> bool:
    """True if ``pattern`` matches somewhere ``sentence`` does not negate it."""
    return any(not is_negated(sentence, m.start()) for m in pattern.finditer(sentence))


def _time_cap(sentence: str, category: CrisisCategory) -> tuple[bool, CrisisLevel | None]:
    """``(capped, cap)``: whether a past-time marker applies, and the level it allows."""
    if PRESENT_OVERRIDE.search(sentence):
        return False, None
    for marker, cap, medical_cap in TIME_CAPS:
        if marker.search(sentence):
            return True, medical_cap if category is CrisisCategory.MEDICAL_EMERGENCY else cap
    return False, None


def _suppression(rule: Rule, sentence: str, match: re.Match[str], joking: bool) -> str | None:
    """Why this match does not count, or None if it does."""
    category = rule.categories[0]
    if is_negated(sentence, match.start()):
        return NEGATED
    if category in SELF_FOCUSED and is_addressed_to_listener(sentence, match.start()):
        return ADDRESSED_TO_LISTENER
    benign = BENIGN_CONTEXT.get(category)
    clause = sentence[: match.end() + 40]
    if benign is not None and not rule.never_innocent and benign.search(clause):
        return INNOCENT_CONTEXT
    if category is CrisisCategory.HARM_TO_OTHERS:
        if joking:
            return JOKING_THREAT
        if ASLEEP.search(sentence):
            return SLEEP_TALK
    return None


def _signals_in_sentence(
    sentence: str, rules: Sequence[Rule], joking: bool
) -> Iterator[Signal | str]:
    """Yield a ``Signal`` per counted match and a note (str) per discounted one."""
    for rule in rules:
        if rule.requires is not None and not _mentions(rule.requires, sentence):
            continue
        for match in rule.pattern.finditer(sentence):
            why_not = _suppression(rule, sentence, match, joking)
            if why_not is not None:
                yield why_not if rule.level >= GUARD_MIN_LEVEL else MINOR_DISCOUNT
                continue
            yield from _dated(rule.categories, rule.level, rule.reason, sentence)


def _dated(
    categories: tuple[CrisisCategory, ...], level: CrisisLevel, reason: str, sentence: str
) -> Iterator[Signal | str]:
    """The signal of a counted match after the sentence's time markers (``TIME_CAPS``),
    and a note when they dropped or lowered it."""
    capped, cap = _time_cap(sentence, categories[0])
    if not capped:
        yield Signal(categories, level, reason, sentence)
    elif cap is None:
        yield "ignored a medical event described as in the past"
    else:
        yield Signal(categories, min(level, cap), reason, sentence, current=False)
        if cap < level:
            yield f"lowered to {cap.name}: described as in the past"


def _skipped_as(sentence: str) -> str | None:
    """Why a whole sentence is not about a real, present person: media or training."""
    if MEDIA.search(sentence):
        return ABOUT_MEDIA
    if TEACHING.search(sentence):
        return ABOUT_TEACHING
    return None


def _escalate(signal: Signal, means_at_hand: bool) -> Signal:
    """Raise current HIGH intent to CRITICAL when means or a time are named."""
    if not (
        signal.current
        and signal.level is CrisisLevel.HIGH
        and _ESCALATABLE.intersection(signal.categories)
    ):
        return signal
    timed = IMMINENT.search(signal.sentence) and FUTURE.search(signal.sentence)
    if means_at_hand:
        return replace(signal, level=CrisisLevel.CRITICAL, reason=f"{signal.reason}; means at hand")
    if timed:
        return replace(signal, level=CrisisLevel.CRITICAL, reason=f"{signal.reason}; plan is timed")
    return signal


def scan(text: str, rules: Sequence[Rule] = RULES) -> tuple[list[Signal], list[str]]:
    """Find the crisis signals in normalised ``text``; also return the discount notes."""
    signals: list[Signal] = []
    notes: list[str] = []
    text, idioms = IDIOMS.subn(" ", text)
    if idioms:
        notes.append(IDIOM)
    joking = JOKE.search(text) is not None
    live_sentences: list[str] = []
    for sentence in split_sentences(text):
        about = _skipped_as(sentence)
        if about is not None:
            if any(rule.pattern.search(sentence) for rule in rules):
                notes.append(about)
            continue
        live_sentences.append(sentence)
        for item in _signals_in_sentence(sentence, rules, joking):
            if isinstance(item, str):
                notes.append(item)
            else:
                signals.append(item)
    live = " ".join(live_sentences)
    if ROUTINE_CARE.search(text) and not ROUTINE_DANGER.search(text):
        notes.append(ROUTINE)
    means_at_hand = MEANS.search(live) is not None
    signals = [_escalate(signal, means_at_hand) for signal in signals]
    if means_at_hand and COMMITMENT.search(live):
        signals.append(
            Signal(
                (CrisisCategory.SUICIDAL_IDEATION,),
                CrisisLevel.CRITICAL,
                "means at hand and a stated commitment to act",
                live,
            )
        )
    return signals, notes


def observation_signals(text: str) -> tuple[list[Signal], list[str]]:
    """Signals from the vital signs in ``text`` (not normalised: "35.1C" must stay)."""
    signals: list[Signal] = []
    notes: list[str] = []
    for sentence in split_sentences(text):
        finding = assess_observations(sentence)
        if finding is None:
            continue
        about = _skipped_as(sentence)
        if about is not None:
            notes.append(about)  # as for a rule: the model alone cannot raise it either
            continue
        for item in _dated(_MEDICAL, finding.level, finding.reason, sentence):
            if isinstance(item, str):
                notes.append(item)
            else:
                signals.append(item)
    return signals, notes


_MEDICAL = (CrisisCategory.MEDICAL_EMERGENCY,)


# --- detectors ------------------------------------------------------------------------------


class RuleDetector:
    """The default detector: commented pattern tables plus context handling.

    ``rules`` defaults to ``services.safety.rules.RULES``; pass a subset to test or to
    switch a category off.
    """

    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        self._rules = tuple(rules)

    def analyze(self, text: str) -> Analysis:
        spans = find_phi(text)
        signals, notes = scan(normalize(text), self._rules)
        observed, observation_notes = observation_signals(text)
        signals += observed
        notes += observation_notes
        level = max((s.level for s in signals), default=CrisisLevel.NONE)
        categories = [c for s in signals for c in s.categories]
        reasons = [f"{s.level.name}: {s.reason}" for s in sorted(signals, key=_by_level)]
        if not signals:
            reasons.append("no crisis language found")
        return make_analysis(level, categories, spans, mask(text, spans), reasons + notes)


def _by_level(signal: Signal) -> int:
    return -int(signal.level)


class CompositeDetector:
    """Combines detectors: the highest level, the union of categories and PHI spans.

    The safety score is the lowest any detector gave, and reasons are concatenated in
    detector order without repeats. Intended for adding a model-based detector next to
    ``RuleDetector`` without either one being able to lower the other's verdict.
    """

    def __init__(self, detectors: Sequence[Detector]) -> None:
        if not detectors:
            raise DetectorConfigError("CompositeDetector needs at least one detector")
        self._detectors = tuple(detectors)

    def analyze(self, text: str) -> Analysis:
        return combine(text, [detector.analyze(text) for detector in self._detectors])


def combine(text: str, results: Sequence[Analysis]) -> Analysis:
    """Merge verdicts on ``text`` as ``CompositeDetector`` does (``results`` non-empty)."""
    spans = merge_spans(*(r.phi_spans for r in results))
    return make_analysis(
        level=max(r.level for r in results),
        categories=[c for r in results for c in r.categories],
        phi_spans=spans,
        masked_text=mask(text, spans),
        reasons=[reason for r in results for reason in r.reasons],
        safety_score=min(r.safety_score for r in results),
    )
