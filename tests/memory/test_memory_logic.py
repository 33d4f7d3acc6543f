from __future__ import annotations

import pytest

from mesh.status import InvalidArgument
from services.memory import logic

S, E = logic.START_MARK, logic.STOP_MARK


def test_parse_headline_gives_code_point_ranges() -> None:
    text, ranges = logic.parse_headline(f"Grand-mère 👵 loves {S}gardening{E} and {S}roses{E}")
    assert text == "Grand-mère 👵 loves gardening and roses"
    assert [text[s:e] for s, e in ranges] == ["gardening", "roses"]
    assert ranges[0] == (19, 28)  # the emoji counts as one code point


def test_parse_headline_merges_adjacent_and_drops_stray_markers() -> None:
    text, ranges = logic.parse_headline(f"{S}new{E}{S}york{E} {E}x{S}")
    assert text == "newyork x"
    assert ranges == [(0, 7)]


def test_tags_are_normalised() -> None:
    assert logic.normalize_tags("tags", [" Family", "family", "GARDEN"]) == ("family", "garden")
    with pytest.raises(InvalidArgument, match="tags"):
        logic.normalize_tags("tags", ["  "])
    with pytest.raises(InvalidArgument, match="tags"):
        logic.normalize_tags("tags", [f"t{i}" for i in range(40)])


def test_content_and_query_limits() -> None:
    with pytest.raises(InvalidArgument, match="content"):
        logic.validate_content("   ")
    logic.validate_content("é" * 8192)  # 16 KiB exactly in UTF-8
    with pytest.raises(InvalidArgument, match="content"):
        logic.validate_content("é" * 8193)
    with pytest.raises(InvalidArgument, match="query"):
        logic.validate_query("")
    with pytest.raises(InvalidArgument, match="query"):
        logic.validate_query("x" * 2049)


def test_limits_and_types() -> None:
    assert logic.search_limit(0) == 10 and logic.search_limit(1000) == 100
    assert logic.page_size(0) == 50 and logic.page_size(501) == 500
    with pytest.raises(InvalidArgument, match="type"):
        logic.validate_type("type", 0)
    with pytest.raises(InvalidArgument, match="types"):
        logic.validate_types([1, 9])
