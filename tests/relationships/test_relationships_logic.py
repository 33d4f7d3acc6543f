from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mesh.status import FailedPrecondition, InvalidArgument
from services.relationships import logic

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def row(**kw: object) -> logic.RelationshipRow:
    base: dict[str, object] = dict(
        relationship_id="r1",
        resident_id="res",
        related_user_id="u",
        kind=1,
        consent_level=1,
        created_by="admin",
        created_at=NOW,
        updated_at=NOW,
        deleted_at=None,
    )
    base.update(kw)
    return logic.RelationshipRow(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("", "u", 1, 1), "resident_id"),
        (("r", "", 1, 1), "related_user_id"),
        (("r", "r", 1, 1), "related_user_id"),
        (("r", "u", 0, 1), "kind"),
        (("r", "u", 9, 1), "kind"),
        (("r", "u", 1, 0), "consent_level"),
        (("r" * 200, "u", 1, 1), "resident_id"),
    ],
)
def test_validate_new_names_the_field(args: tuple[str, str, int, int], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        logic.validate_new(*args)


def test_cursor_round_trip_and_malformed() -> None:
    cursor = logic.Cursor(1_700_000_000_123_456, "abc:def")
    assert logic.decode_cursor(logic.encode_cursor(cursor)) == cursor
    assert logic.decode_cursor("") is None
    with pytest.raises(InvalidArgument, match="page_token"):
        logic.decode_cursor("!!not-base64")
    with pytest.raises(InvalidArgument, match="page_token"):
        logic.decode_cursor(logic.encode_cursor(cursor)[:3])


def test_page_size_defaults_and_clamps() -> None:
    assert logic.page_size(0) == 50
    assert logic.page_size(7) == 7
    assert logic.page_size(10_000) == 500
    with pytest.raises(InvalidArgument, match="page_size"):
        logic.page_size(-1)


def test_consent_change() -> None:
    assert logic.consent_change(row(consent_level=1), 2) is True
    assert logic.consent_change(row(consent_level=2), 2) is False
    with pytest.raises(FailedPrecondition, match="ended"):
        logic.consent_change(row(deleted_at=NOW), 2)
    with pytest.raises(InvalidArgument, match="consent_level"):
        logic.consent_change(row(), 0)


def test_micros_are_exact() -> None:
    moment = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert logic.to_micros(moment) % 1_000_000 == 891011
