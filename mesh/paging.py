"""Keyset pagination shared by every service: page sizes and opaque page tokens.

A page token is the position of the last row returned: its time in microseconds
and its id, base64url-encoded so clients treat it as opaque. A token that does not
decode is the caller's mistake (INVALID_ARGUMENT), never a server error.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mesh.status import InvalidArgument

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Keyset:
    """Where the previous page ended: (time in microseconds, row id)."""

    micros: int
    row_id: str


def page_size(requested: int, *, default: int = 50, maximum: int = 500) -> int:
    """0 means the default; more than the maximum is clamped (contracts say 'at most')."""
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(requested or default, maximum)


def to_micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def encode_token(position: Keyset) -> str:
    raw = f"{position.micros}:{position.row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, field: str = "page_token") -> Keyset | None:
    """The position in ``token``; None for an empty token (the first page)."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        micros, _, row_id = raw.partition(":")
        if not row_id:
            raise ValueError("no id")
        return Keyset(int(micros), row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(f"{field} is malformed; pass next_page_token unchanged") from None
