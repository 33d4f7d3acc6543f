"""Pure rules of the relationship service: validation, paging, consent changes. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mesh import paging
from mesh.status import FailedPrecondition, InvalidArgument

# Enum numbers from lilo.relationships.v1 (0 = unspecified, never stored).
KINDS: frozenset[int] = frozenset({1, 2, 3})
CONSENT_LEVELS: frozenset[int] = frozenset({1, 2, 3})
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_ID_LENGTH = 128


@dataclass(frozen=True)
class RelationshipRow:
    """A relationship as stored."""

    relationship_id: str
    resident_id: str
    related_user_id: str
    kind: int
    consent_level: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def active(self) -> bool:
        return self.deleted_at is None


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row of the previous page (oldest-first order)."""

    created_at_us: int
    relationship_id: str


def require_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument(f"{field} is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{field} must be at most {MAX_ID_LENGTH} printable characters")
    return value


def validate_kind(field: str, kind: int) -> int:
    if kind not in KINDS:
        raise InvalidArgument(f"{field} must be FAMILY, PROVIDER or CAREGIVER (got {kind})")
    return kind


def validate_consent(field: str, level: int) -> int:
    if level not in CONSENT_LEVELS:
        raise InvalidArgument(f"{field} must be FULL, LIMITED or EMERGENCY_ONLY (got {level})")
    return level


def validate_new(resident_id: str, related_user_id: str, kind: int, consent: int) -> None:
    require_id("resident_id", resident_id)
    require_id("related_user_id", related_user_id)
    if resident_id == related_user_id:
        raise InvalidArgument("related_user_id must differ from resident_id")
    validate_kind("kind", kind)
    validate_consent("consent_level", consent)


def validate_kinds(kinds: Iterable[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(kinds)))
    for kind in out:
        validate_kind("kinds", kind)
    return out


def page_size(requested: int) -> int:
    return paging.page_size(requested, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


def encode_cursor(cursor: Cursor) -> str:
    return paging.encode_token(paging.Keyset(cursor.created_at_us, cursor.relationship_id))


def decode_cursor(token: str) -> Cursor | None:
    position = paging.decode_token(token)
    return None if position is None else Cursor(position.micros, position.row_id)


to_micros = paging.to_micros


def consent_change(row: RelationshipRow, new_level: int) -> bool:
    """Whether setting ``new_level`` changes ``row``; raises if the row is not in force.

    Setting the current level again is a no-op (the rpc is IDEMPOTENT)."""
    validate_consent("consent_level", new_level)
    if not row.active:
        raise FailedPrecondition(
            f"relationship {row.relationship_id} has ended; create a new one instead"
        )
    return row.consent_level != new_level


def check_cache_key(user_id: str, resident_id: str) -> str:
    # Ids are printable and bounded; '|' keeps user and resident apart unambiguously
    # because the cache key is only ever built here.
    return f"check|{len(user_id)}|{user_id}|{resident_id}"
