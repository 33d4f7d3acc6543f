"""Protected health information (PHI): find spans and mask them.

Pure functions over a string. Offsets are Python ``str`` indices, which are Unicode code
points, as the proto's ``PhiSpan`` requires.

Contract of ``find_phi``: the returned spans are sorted by start and never overlap. When
two detectors claim overlapping text, the span that starts first wins, then the longer
one, then the one whose category comes first in ``_FINDERS`` (the more specific shapes,
such as SSN, are listed before the looser ones, such as phone numbers).

The detectors are deliberately cue-driven (a name needs "my name is" or a title, a date
needs "born"/"DOB", a record number needs "MRN"): bare capitalised words and bare numbers
are too ambiguous in chat to mask without drowning the text in false positives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

from services.safety import PhiSpanError

__all__ = ["PhiCategory", "PhiSpan", "find_phi", "mask", "merge_spans"]


class PhiCategory(IntEnum):
    """Kinds of PHI; values mirror ``lilo.safety.v1.PhiCategory``."""

    NAME = 1
    DATE_OF_BIRTH = 2
    PHONE = 3
    EMAIL = 4
    ADDRESS = 5
    SSN = 6
    MEDICAL_RECORD_NUMBER = 7
    INSURANCE_ID = 8


@dataclass(frozen=True, order=True)
class PhiSpan:
    """One piece of PHI: ``text[start:end]`` in code points."""

    start: int
    end: int
    category: PhiCategory


# --- building blocks -----------------------------------------------------------------------

# A capitalised name word: "Edith", "O'Brien", "Smith-Jones". Case-sensitive on purpose:
# in chat a lower-case word after "Dr" is far more often not a name ("dr said").
_NAME_WORD = r"(?-i:[A-Z][a-z]+(?:['-][A-Z][a-z]+)?)"
# Up to three name words; connecting words are excluded because they are lower-case.
_NAME = rf"{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}"

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
# 03/04/1941, 3-4-41, 1941-04-03, 12 May 1938, 12th of May 1938, May 12, 1938
_DATE = (
    rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})"
    rf"|{_YEAR}-\d{{2}}-\d{{2}}"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTH}\.?,?\s+{_YEAR}"
    rf"|{_MONTH}\.?\s+{_DAY},?\s+{_YEAR})"
)

_STREET_TYPE = (
    r"(?:street|st|road|rd|lane|ln|avenue|ave|drive|dr|close|way|court|ct|place|pl"
    r"|boulevard|blvd|crescent|terrace|gardens|grove|row|square|sq|parkway|pkwy|hill)"
)
_UK_POSTCODE = r"(?-i:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})"
_US_ZIP = r"\d{5}(?:-\d{4})?"
_TOWN = rf"{_NAME_WORD}(?:\s+{_NAME_WORD})?"


@dataclass(frozen=True)
class _Finder:
    """A pattern whose ``group`` (0 = whole match) is one PHI span of ``category``."""

    category: PhiCategory
    pattern: re.Pattern[str]
    group: int | str = 0
    accept: Callable[[str], bool] = lambda _: True


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _has_digit(value: str) -> bool:
    return any(ch.isdigit() for ch in value)


def _plausible_ssn(value: str) -> bool:
    # Area 000/666/9xx, group 00 and serial 0000 are never issued.
    area, group, serial = value.split("-")
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and (serial != "0000")
    )


# Order matters only for ties (see module docstring): specific shapes first.
_FINDERS: tuple[_Finder, ...] = (
    _Finder(PhiCategory.EMAIL, _compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b")),
    _Finder(
        PhiCategory.SSN,
        _compile(r"(?<![\d-])(?P<v>\d{3}-\d{2}-\d{4})(?![\d-])"),
        "v",
        _plausible_ssn,
    ),
    # "MRN 12345678", "medical record number: AB123456", "hospital no. 1234567".
    _Finder(
        PhiCategory.MEDICAL_RECORD_NUMBER,
        _compile(
            r"\b(?:mrn|medical\s+record(?:\s+(?:number|no\.?|#))?|hospital\s+(?:number|no\.?))"
            r"\s*(?:is\s+)?[:#]?\s*(?P<v>[a-z]{0,3}\d{5,12})\b"
        ),
        "v",
    ),
    # UK NHS numbers are 10 digits, usually written 3-3-4.
    _Finder(
        PhiCategory.MEDICAL_RECORD_NUMBER,
        _compile(r"\bnhs\s+(?:number|no\.?)\s*(?:is\s+)?[:#]?\s*(?P<v>\d{3}\s?\d{3}\s?\d{4})\b"),
        "v",
    ),
    # "member ID is XJH449201", "policy number: 12-3456-78", "Medicare no 1EG4TE5MK73".
    _Finder(
        PhiCategory.INSURANCE_ID,
        _compile(
            r"\b(?:member|insurance|policy|medicare|medicaid|subscriber|plan|group)"
            r"(?:\s+(?:member|policy))?\s+(?:id|number|no\.?|#)\s*(?:is\s+)?[:#]?\s*"
            r"(?P<v>[a-z0-9][a-z0-9-]{4,18}[a-z0-9])\b"
        ),
        "v",
        _has_digit,
    ),
    # "born on 12 May 1938", "DOB: 03/04/1941", "date of birth is 1941-04-03".
    _Finder(
        PhiCategory.DATE_OF_BIRTH,
        _compile(
            rf"\b(?:born(?:\s+on)?|d\.?o\.?b\.?|date\s+of\s+birth)\s*(?:is\s+|was\s+)?[:\-]?\s*"
            rf"(?P<v>{_DATE})"
        ),
        "v",
    ),
    # US: (555) 867-5309, 555-867-5309, +1 555 867 5309. Digits must not continue on
    # either side, so long account numbers are not mistaken for phones.
    _Finder(
        PhiCategory.PHONE,
        _compile(r"(?<![\w+])(?:\+1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]\d{4}(?!\d)"),
    ),
    # UK: 07700 900123, +44 7700 900123, 020 7946 0958, 0113 496 0000.
    _Finder(
        PhiCategory.PHONE,
        _compile(r"(?<![\w+])(?:\+44\s?\(?0?\)?\s?|0)\d{2,4}[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)"),
    ),
    # "12 Rose Lane", "221B Baker Street, London NW1 6XE", "400 Oak Ave, Springfield 62704".
    _Finder(
        PhiCategory.ADDRESS,
        _compile(
            rf"\b\d{{1,5}}[a-z]?\s+{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}\s+{_STREET_TYPE}\b\.?"
            rf"(?:,?\s+{_TOWN})?(?:,?\s+(?:{_UK_POSTCODE}|{_US_ZIP}))?"
        ),
    ),
    # Names after a cue: "my name is Edith Clarke", "I'm called Bob", "name: Ann Lee".
    _Finder(
        PhiCategory.NAME,
        _compile(
            rf"\b(?:my\s+name\s+is|my\s+name's|i\s+am\s+called|i'm\s+called|call\s+me"
            rf"|name\s*:)\s+(?P<v>{_NAME})"
        ),
        "v",
    ),
    # Names after a title: "Mr Jones", "Mrs. Okafor", "Dr Smith". The title stays
    # visible because the role ("Dr") helps the reader and is not identifying.
    _Finder(
        PhiCategory.NAME,
        _compile(rf"\b(?-i:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+(?P<v>{_NAME})"),
        "v",
    ),
)


def _candidates(text: str) -> Iterator[tuple[int, int, int, PhiCategory]]:
    for rank, finder in enumerate(_FINDERS):
        for match in finder.pattern.finditer(text):
            value = match.group(finder.group)
            if value and finder.accept(value):
                yield match.start(finder.group), match.end(finder.group), rank, finder.category


def _resolve(candidates: Iterable[tuple[int, int, int, PhiCategory]]) -> list[PhiSpan]:
    # Earliest start first, then longest, then most specific finder.
    ordered = sorted(candidates, key=lambda c: (c[0], -(c[1] - c[0]), c[2]))
    kept: list[PhiSpan] = []
    for start, end, _rank, category in ordered:
        if kept and start < kept[-1].end:
            continue
        kept.append(PhiSpan(start, end, category))
    return kept


def find_phi(text: str) -> tuple[PhiSpan, ...]:
    """Return the non-overlapping PHI spans in ``text``, sorted by start."""
    return tuple(_resolve(_candidates(text)))


def merge_spans(*groups: Sequence[PhiSpan]) -> tuple[PhiSpan, ...]:
    """Union several detectors' spans into one non-overlapping, sorted tuple.

    Overlaps are resolved as in ``find_phi`` (earliest, then longest, then the category
    with the smaller enum value).
    """
    flat = ((s.start, s.end, int(s.category), s.category) for g in groups for s in g)
    return tuple(_resolve(flat))


def mask(text: str, spans: Sequence[PhiSpan]) -> str:
    """Replace each span with ``[CATEGORY]``, e.g. ``[PHONE]``.

    Raises ``PhiSpanError`` when spans overlap, are empty or reversed, or fall outside
    ``text``; spans need not be sorted.
    """
    ordered = sorted(spans)
    position = 0
    parts: list[str] = []
    for span in ordered:
        if not 0 <= span.start < span.end <= len(text):
            raise PhiSpanError(f"span {span.start}:{span.end} is outside 0:{len(text)}")
        if span.start < position:
            raise PhiSpanError(f"span {span.start}:{span.end} overlaps the previous span")
        parts.append(text[position : span.start])
        parts.append(f"[{span.category.name}]")
        position = span.end
    parts.append(text[position:])
    return "".join(parts)
