"""Pure chat rules: request validation, who may write as whom, page tokens, live ordering.

No I/O and no clock: callers pass ``now`` and the facts they loaded.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from lilo.chat.v1 import chat_service_pb2 as pb

from mesh.status import InvalidArgument, PermissionDenied

MAX_CONTENT_BYTES = 16 * 1024
MAX_CLIENT_MESSAGE_ID = 128
MAX_TITLE = 200
DEFAULT_PAGE = 50
MAX_PAGE = 500
MAX_ANALYTICS_DAYS = 366

_USER_ROLE_TO_SENDER = {
    "resident": pb.SENDER_ROLE_RESIDENT,
    "family_member": pb.SENDER_ROLE_FAMILY,
    "care_staff": pb.SENDER_ROLE_CARE_STAFF,
    "health_provider": pb.SENDER_ROLE_CARE_STAFF,
    "admin": pb.SENDER_ROLE_SYSTEM,
    "system": pb.SENDER_ROLE_SYSTEM,
}


@dataclass(frozen=True)
class Caller:
    """The facts about the caller that chat rules need (None-able principal flattened)."""

    subject: str
    role: str
    is_service: bool


def caller_of(principal: object) -> Caller | None:
    """Flatten a ``mesh.identity.Principal`` (or None when the call had no identity)."""
    if principal is None:
        return None
    return Caller(
        subject=str(getattr(principal, "subject", "")),
        role=str(getattr(principal, "role", "")),
        is_service=bool(getattr(principal, "is_service", False)),
    )


def parse_id(value: str, field: str) -> uuid.UUID:
    """A required UUID field; INVALID_ARGUMENT naming ``field`` otherwise."""
    if not value:
        raise InvalidArgument(f"{field} is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"{field} must be a UUID, got {value[:64]!r}") from None


def conversation_type(value: int) -> int:
    """The type to store: UNSPECIFIED means THERAPEUTIC; unknown numbers are refused."""
    if value == pb.CONVERSATION_TYPE_UNSPECIFIED:
        return pb.CONVERSATION_TYPE_THERAPEUTIC
    if value not in pb.ConversationType.values():
        raise InvalidArgument(f"type {value} is not a ConversationType")
    return value


def validate_title(title: str) -> str:
    if len(title) > MAX_TITLE:
        raise InvalidArgument(f"title must be at most {MAX_TITLE} characters")
    return title


def validate_content(content: str, field: str = "content") -> str:
    if not content.strip():
        raise InvalidArgument(f"{field} must not be empty")
    if len(content.encode()) > MAX_CONTENT_BYTES:
        raise InvalidArgument(f"{field} must be at most 16 KiB (UTF-8)")
    return content


def validate_client_message_id(value: str) -> str:
    if not value:
        raise InvalidArgument("client_message_id is required")
    if len(value) > MAX_CLIENT_MESSAGE_ID:
        raise InvalidArgument(
            f"client_message_id must be at most {MAX_CLIENT_MESSAGE_ID} characters"
        )
    return value


def resolve_sender(caller: Caller | None, sender_id: str, sender_role: int) -> tuple[str, int]:
    """Who the message is stored as.

    A user writes only as themself, in the role their account has (empty fields are filled
    in; a different id or role is PERMISSION_DENIED). A platform service (or a call without
    identity, which only test set-ups admit) must name both and may name anyone.
    """
    if sender_role and sender_role not in pb.SenderRole.values():
        raise InvalidArgument(f"sender_role {sender_role} is not a SenderRole")
    if caller is None or caller.is_service:
        if not sender_id:
            raise InvalidArgument("sender_id is required for service callers")
        if not sender_role:
            raise InvalidArgument("sender_role is required for service callers")
        return sender_id, sender_role
    own_role = _USER_ROLE_TO_SENDER.get(caller.role, pb.SENDER_ROLE_SYSTEM)
    if sender_id and sender_id != caller.subject:
        raise PermissionDenied("sender_id must be the caller")
    if sender_role and sender_role != own_role:
        raise PermissionDenied(
            f"sender_role must be {pb.SenderRole.Name(own_role)} for a {caller.role}"
        )
    return caller.subject, own_role


def page_size(value: int, field: str = "page_size") -> int:
    if value < 0:
        raise InvalidArgument(f"{field} must not be negative")
    if value == 0:
        return DEFAULT_PAGE
    return min(value, MAX_PAGE)


def encode_token(kind: str, scope: str, position: list[object]) -> str:
    """An opaque page token bound to one listing (``kind``) and its filter (``scope``)."""
    raw = json.dumps({"k": kind, "s": scope, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, kind: str, scope: str, field: str = "page_token") -> list[object]:
    """The position in ``token``; INVALID_ARGUMENT if it is malformed or from another listing."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"{field} is malformed") from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("p"), list):
        raise InvalidArgument(f"{field} is malformed")
    if data.get("s") != scope:
        raise InvalidArgument(f"{field} belongs to a different listing")
    position: list[object] = data["p"]
    return position


def messages_start(conversation_id: str, page_token: str, before_sequence: int) -> int | None:
    """The exclusive upper sequence bound of a ListMessages page (None = from the newest)."""
    if before_sequence < 0:
        raise InvalidArgument("before_sequence must not be negative")
    if page_token and before_sequence:
        raise InvalidArgument("page_token must not be combined with before_sequence")
    if page_token:
        position = decode_token(page_token, "messages", conversation_id)
        if len(position) != 1 or not isinstance(position[0], int) or position[0] < 1:
            raise InvalidArgument("page_token is malformed")
        return position[0]
    return before_sequence or None


def parse_date(value: str, field: str) -> dt.date:
    if not value:
        raise InvalidArgument(f"{field} is required (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(value) if len(value) == 10 else _bad_date(field, value)
    except ValueError:
        return _bad_date(field, value)


def _bad_date(field: str, value: str) -> dt.date:
    raise InvalidArgument(f"{field} must be a date written YYYY-MM-DD, got {value[:32]!r}")


def analytics_range(start: str, end: str) -> tuple[dt.date, dt.date]:
    first, last = parse_date(start, "start_date"), parse_date(end, "end_date")
    if last < first:
        raise InvalidArgument("end_date must not be before start_date")
    if (last - first).days + 1 > MAX_ANALYTICS_DAYS:
        raise InvalidArgument(f"the date range holds at most {MAX_ANALYTICS_DAYS} days")
    return first, last


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def visible(resident_id: str, visible_residents: Iterable[str] | None) -> bool:
    """Whether a record about ``resident_id`` may be shown (None = no per-resident limit)."""
    return visible_residents is None or resident_id in visible_residents


class LiveOrder:
    """Turns replayed and live sequence numbers into one increasing, duplicate-free run.

    ``accept(seq)`` says whether to deliver ``seq`` (False for anything already delivered);
    ``gap(seq)`` is the exclusive range to fetch from storage before delivering ``seq`` when
    live publications arrived out of order or while the stream was replaying.
    """

    def __init__(self, last_delivered: int) -> None:
        self.last = last_delivered

    def accept(self, seq: int) -> bool:
        return seq > self.last

    def gap(self, seq: int) -> tuple[int, int] | None:
        return (self.last, seq) if seq > self.last + 1 else None

    def delivered(self, seq: int) -> None:
        if seq > self.last:
            self.last = seq
