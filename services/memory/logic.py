"""Pure rules of the memory service: validation, tag normalisation, paging, highlights."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from mesh import paging
from mesh.status import InvalidArgument

TYPES = frozenset({1, 2, 3, 4, 5})
MAX_CONTENT_BYTES = 16 * 1024
MAX_QUERY_BYTES = 2 * 1024
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_METADATA_ENTRIES = 32
MAX_METADATA_BYTES = 4 * 1024
MAX_ID_LENGTH = 128
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
# Highlight markers handed to ts_headline: private-use code points, stripped from the
# content first so a memory cannot forge a highlight.
START_MARK, STOP_MARK = "\ue000", "\ue001"


@dataclass(frozen=True)
class MemoryRow:
    memory_id: str
    user_id: str
    type: int
    content: str
    tags: tuple[str, ...]
    metadata: Mapping[str, str]
    created_at: datetime
    access_count: int
    last_accessed_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class Cursor:
    """Keyset position in newest-first order."""

    created_at_us: int
    memory_id: str


def require(name: str, value: str) -> str:
    if not value:
        raise InvalidArgument(f"{name} is required")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidArgument(f"{name} must be at most {MAX_ID_LENGTH} printable characters")
    return value


def validate_type(name: str, value: int) -> int:
    if value not in TYPES:
        raise InvalidArgument(
            f"{name} must be FACT, PREFERENCE, EVENT, CONVERSATION_SUMMARY or CARE_NOTE"
        )
    return value


def validate_types(values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(sorted(set(values)))
    for value in out:
        validate_type("types", value)
    return out


def validate_content(content: str) -> str:
    if not content.strip():
        raise InvalidArgument("content must not be empty")
    if len(content.encode()) > MAX_CONTENT_BYTES:
        raise InvalidArgument("content must be at most 16 KiB (UTF-8)")
    if "\x00" in content:
        raise InvalidArgument("content must not contain NUL characters")
    return content


def normalize_tags(name: str, tags: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, trimmed, repeats dropped, first occurrence order kept."""
    out: list[str] = []
    for raw in tags:
        tag = raw.strip().lower()
        if not tag or len(tag) > MAX_TAG_LENGTH or not tag.isprintable():
            raise InvalidArgument(f"{name} must be 1-{MAX_TAG_LENGTH} printable characters each")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidArgument(f"{name} must hold at most {MAX_TAGS} distinct tags")
    return tuple(out)


def validate_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidArgument(f"metadata must hold at most {MAX_METADATA_ENTRIES} entries")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise InvalidArgument("metadata must be at most 4 KiB in total")
    if any(not k or "\x00" in k or "\x00" in v for k, v in metadata.items()):
        raise InvalidArgument("metadata keys must be non-empty and free of NUL characters")
    return dict(metadata)


def validate_query(query: str) -> str:
    if not query.strip():
        raise InvalidArgument("query must not be empty")
    if len(query.encode()) > MAX_QUERY_BYTES:
        raise InvalidArgument("query must be at most 2 KiB (UTF-8)")
    if "\x00" in query:
        raise InvalidArgument("query must not contain NUL characters")
    return query


def page_size(requested: int) -> int:
    return paging.page_size(requested, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)


def search_limit(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("limit must not be negative")
    return min(requested or DEFAULT_LIMIT, MAX_LIMIT)


def parse_headline(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """Split ts_headline output into plain text and highlight ranges.

    Ranges are in Unicode code points (Python ``str`` indices), ordered, non-overlapping and
    non-empty; adjacent ranges are merged. Stray or unbalanced markers are dropped.
    """
    text: list[str] = []
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for char in marked:
        if char == START_MARK:
            if start is None:
                start = len(text)
        elif char == STOP_MARK:
            if start is not None and len(text) > start:
                if ranges and ranges[-1][1] == start:
                    ranges[-1] = (ranges[-1][0], len(text))
                else:
                    ranges.append((start, len(text)))
            start = None
        else:
            text.append(char)
    return "".join(text), ranges


def encode_cursor(cursor: Cursor) -> str:
    return paging.encode_token(paging.Keyset(cursor.created_at_us, cursor.memory_id))


def decode_cursor(token: str) -> Cursor | None:
    position = paging.decode_token(token)
    return None if position is None else Cursor(position.micros, position.row_id)


to_micros = paging.to_micros
from_micros = paging.from_micros
