from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mesh.status import AlreadyExists, InvalidArgument
from services.billing import logic

NOW = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)


def priced(**kw: object) -> logic.UsageEvent:
    args: dict[str, object] = dict(
        event_id="e1",
        user_id="u1",
        service_type=logic.GENERATION,
        quantity=3,
        idempotency_key="k1",
        occurred_at=NOW,
        recorded_at=NOW,
        prices=logic.PriceTable(),
    )
    args.update(kw)
    return logic.price(**args)  # type: ignore[arg-type]


def test_price_is_integer_micros() -> None:
    event = priced()
    assert event.unit_cost_micros == 2_000 and event.cost_micros == 6_000
    assert event.currency_code == "USD" and event.billing_period == "2026-11"


def test_period_is_the_utc_month() -> None:
    local = datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert logic.billing_period(local) == "2026-11"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"user_id": ""}, "user_id"),
        ({"service_type": 0}, "service_type"),
        ({"quantity": 0}, "quantity"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"quantity": 2**62}, "quantity"),
        ({"occurred_at": NOW + timedelta(hours=1)}, "occurred_at"),
    ],
)
def test_bad_records_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        priced(**kw)


def test_same_key_other_use_is_already_exists() -> None:
    first = priced()
    logic.check_same_use(first, priced(event_id="e2", occurred_at=NOW - timedelta(days=1)))
    with pytest.raises(AlreadyExists, match="idempotency_key"):
        logic.check_same_use(first, priced(quantity=4))
    with pytest.raises(AlreadyExists):
        logic.check_same_use(first, priced(service_type=logic.SEARCH))


@pytest.mark.parametrize("period", ["2026-1", "2026-13", "26-11", "2026/11", ""])
def test_period_validation(period: str) -> None:
    with pytest.raises(InvalidArgument, match="billing_period"):
        logic.validate_period("billing_period", period)


def test_cursor_round_trip() -> None:
    cursor = logic.Cursor(logic.to_micros(NOW), "e:1")
    assert logic.decode_cursor(logic.encode_cursor(cursor)) == cursor
    assert logic.from_micros(cursor.occurred_at_us) == NOW
    with pytest.raises(InvalidArgument, match="page_token"):
        logic.decode_cursor("***")
