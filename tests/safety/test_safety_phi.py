"""PHI spans (code-point offsets) and masking."""

from __future__ import annotations

import itertools

import pytest

from services.safety import PhiSpanError
from services.safety.phi import PhiCategory, PhiSpan, find_phi, mask, merge_spans

C = PhiCategory


def found(text: str) -> list[tuple[PhiCategory, str]]:
    return [(span.category, text[span.start : span.end]) for span in find_phi(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My name is Edith and I used to be a teacher", [(C.NAME, "Edith")]),
        ("my name is Edith Mary Clarke.", [(C.NAME, "Edith Mary Clarke")]),
        ("Dr. Smith adjusted my tablets", [(C.NAME, "Smith")]),
        ("Please tell Mrs Okafor-Bello", [(C.NAME, "Okafor-Bello")]),
        ("I was born on 12 May 1938 in Glasgow", [(C.DATE_OF_BIRTH, "12 May 1938")]),
        ("DOB: 03/04/1941", [(C.DATE_OF_BIRTH, "03/04/1941")]),
        ("date of birth is May 12, 1938", [(C.DATE_OF_BIRTH, "May 12, 1938")]),
        ("call 555-867-5309 please", [(C.PHONE, "555-867-5309")]),
        ("ring (555) 867-5309", [(C.PHONE, "(555) 867-5309")]),
        ("my mobile is 07700 900123", [(C.PHONE, "07700 900123")]),
        ("office +44 20 7946 0958", [(C.PHONE, "+44 20 7946 0958")]),
        ("mail jane.doe@example.co.uk today", [(C.EMAIL, "jane.doe@example.co.uk")]),
        ("I live at 12 Rose Lane, Leeds", [(C.ADDRESS, "12 Rose Lane, Leeds")]),
        ("221B Baker Street, London NW1 6XE", [(C.ADDRESS, "221B Baker Street, London NW1 6XE")]),
        ("SSN 123-45-6789", [(C.SSN, "123-45-6789")]),
        ("MRN 44812309", [(C.MEDICAL_RECORD_NUMBER, "44812309")]),
        ("NHS number 485 777 3456", [(C.MEDICAL_RECORD_NUMBER, "485 777 3456")]),
        ("My insurance member ID is XJH449201", [(C.INSURANCE_ID, "XJH449201")]),
    ],
)
def test_finds_each_category(text: str, expected: list[tuple[PhiCategory, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I walked 2 kms round the garden at 10:30",
        "room 12 needs 30 minutes of physio",
        "the doctor said my blood pressure is 120/80",
        "SSN-shaped but never issued: 000-12-3456",
        "my member ID is ABCDEFG",  # no digit: a word, not an id
        "the dr said I'm doing well",  # lower-case after a title is not a name
    ],
)
def test_leaves_non_phi_alone(text: str) -> None:
    assert find_phi(text) == ()


def test_offsets_are_code_points() -> None:
    text = "😀👵 call 555-867-5309"
    (span,) = find_phi(text)
    assert (span.start, span.end) == (8, 20)  # each emoji is one code point
    assert text[span.start : span.end] == "555-867-5309"


def test_masks_every_span_with_its_category() -> None:
    text = "Mrs. Okafor's DOB is 03/04/1941, MRN 44812309, email a.b@c.org"
    assert mask(text, find_phi(text)) == (
        "Mrs. [NAME]'s DOB is [DATE_OF_BIRTH], MRN [MEDICAL_RECORD_NUMBER], email [EMAIL]"
    )


def test_spans_are_sorted_and_disjoint() -> None:
    spans = find_phi("SSN 123-45-6789 or 555-867-5309, DOB 1941-04-03, MRN 1234567")
    assert list(spans) == sorted(spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_mask_accepts_unsorted_spans_and_no_spans() -> None:
    text = "abc def"
    spans = [PhiSpan(4, 7, C.NAME), PhiSpan(0, 3, C.PHONE)]
    assert mask(text, spans) == "[PHONE] [NAME]"
    assert mask(text, []) == text


@pytest.mark.parametrize(
    "spans",
    [
        [PhiSpan(0, 4, C.NAME), PhiSpan(3, 6, C.PHONE)],  # overlap
        [PhiSpan(2, 2, C.NAME)],  # empty
        [PhiSpan(0, 99, C.NAME)],  # past the end
    ],
)
def test_mask_rejects_bad_spans(spans: list[PhiSpan]) -> None:
    with pytest.raises(PhiSpanError):
        mask("abcdefgh", spans)


def test_merge_prefers_the_earlier_then_longer_span() -> None:
    merged = merge_spans([PhiSpan(0, 5, C.NAME)], [PhiSpan(2, 9, C.PHONE), PhiSpan(10, 12, C.SSN)])
    assert merged == (PhiSpan(0, 5, C.NAME), PhiSpan(10, 12, C.SSN))
