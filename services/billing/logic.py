"""Pure rules of billing: validation, pricing, periods, idempotency comparison, paging."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mesh import paging
from mesh.status import AlreadyExists, InvalidArgument

EMBEDDING, GENERATION, SEARCH = 1, 2, 3
SERVICE_TYPES = frozenset({EMBEDDING, GENERATION, SEARCH})
INT64_MAX = 2**63 - 1
MAX_ID_LENGTH = 128
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class PriceTable:
    """Unit cost per service type in micro-units of ``currency_code``. A user is billed in
    one currency, so the table has one."""

    unit_cost_micros: Mapping[int, int] = field(
        default_factory=lambda: {EMBEDDING: 100, GENERATION: 2_000, SEARCH: 500}
    )
    currency_code: str = "USD"

    def unit_cost(self, service_type: int) -> int:
        return self.unit_cost_micros[service_type]


@dataclass(frozen=True)
class UsageEvent:
    event_id: str
    user_id: str
    service_type: int
    quantity: int
    unit_cost_micros: int
    cost_micros: int
    currency_code: str
    billing_period: str
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str


@dataclass(frozen=True)
class Cursor:
    """Keyset position in newest-first order: the last event of the previous page."""

    occurred_at_us: int
    event_id: str


def require(name: str, value: str) -> str:
    if not value:
        raise InvalidArgument(f"{name} is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{name} must be at most {MAX_ID_LENGTH} printable characters")
    return value


def validate_service_type(name: str, service_type: int) -> int:
    if service_type not in SERVICE_TYPES:
        raise InvalidArgument(
            f"{name} must be EMBEDDING, GENERATION or SEARCH (got {service_type})"
        )
    return service_type


def billing_period(moment: datetime) -> str:
    """The UTC calendar month of ``moment`` as YYYY-MM."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def validate_period(name: str, period: str) -> str:
    if not _PERIOD.match(period):
        raise InvalidArgument(f"{name} must be a month written as YYYY-MM, e.g. 2026-11")
    return period


def price(
    *,
    event_id: str,
    user_id: str,
    service_type: int,
    quantity: int,
    idempotency_key: str,
    occurred_at: datetime,
    recorded_at: datetime,
    prices: PriceTable,
) -> UsageEvent:
    """Validate a usage record and price it at the current unit cost."""
    require("user_id", user_id)
    validate_service_type("service_type", service_type)
    require("idempotency_key", idempotency_key)
    if quantity < 1:
        raise InvalidArgument("quantity must be at least 1")
    unit = prices.unit_cost(service_type)
    cost = quantity * unit
    if cost > INT64_MAX:
        raise InvalidArgument("quantity is too large: its cost does not fit in 64 bits")
    if occurred_at > recorded_at + timedelta(minutes=5):
        raise InvalidArgument("occurred_at must not be in the future")
    return UsageEvent(
        event_id=event_id,
        user_id=user_id,
        service_type=service_type,
        quantity=quantity,
        unit_cost_micros=unit,
        cost_micros=cost,
        currency_code=prices.currency_code,
        billing_period=billing_period(occurred_at),
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        idempotency_key=idempotency_key,
    )


def check_same_use(stored: UsageEvent, incoming: UsageEvent) -> None:
    """A reused key must describe the same use (service type and quantity); the price and
    the time are the first event's, which is the point of idempotency."""
    if (stored.service_type, stored.quantity) != (incoming.service_type, incoming.quantity):
        raise AlreadyExists(
            f"idempotency_key {incoming.idempotency_key} was used for a different "
            "service_type or quantity"
        )


def validate_service_types(values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(values)))
    for value in out:
        validate_service_type("service_types", value)
    return out


def page_size(requested: int) -> int:
    return paging.page_size(requested, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


def encode_cursor(cursor: Cursor) -> str:
    return paging.encode_token(paging.Keyset(cursor.occurred_at_us, cursor.event_id))


def decode_cursor(token: str) -> Cursor | None:
    position = paging.decode_token(token)
    return None if position is None else Cursor(position.micros, position.row_id)


to_micros = paging.to_micros
from_micros = paging.from_micros
