"""Pure conversions between crisis records and the protos; cursors and page tokens."""

from __future__ import annotations

import base64
import binascii
import uuid

from google.protobuf.timestamp_pb2 import Timestamp
from lilo.crisis.v1 import crisis_service_pb2 as pb

from mesh.status import InvalidArgument
from services.crisis.logic import AlertRecord

__all__ = [
    "alert_to_pb",
    "decode_page_token",
    "encode_page_token",
    "event_to_pb",
    "parse_alert_id",
    "parse_cursor",
]


def _ts(epoch: float) -> Timestamp:
    ts = Timestamp()
    micros = round(epoch * 1_000_000)
    ts.seconds, nanos_micro = divmod(micros, 1_000_000)
    ts.nanos = nanos_micro * 1000
    return ts


def alert_to_pb(alert: AlertRecord) -> pb.Alert:
    message = pb.Alert(
        alert_id=alert.alert_id,
        resident_id=alert.resident_id,
        source=alert.source,
        level=int(alert.level),  # type: ignore[arg-type]
        categories=list(alert.categories),  # type: ignore[arg-type]
        excerpt=alert.excerpt,
        trace_id=alert.trace_id,
        state=int(alert.state),  # type: ignore[arg-type]
        tier=int(alert.tier),  # type: ignore[arg-type]
        acknowledged_by=alert.acknowledged_by,
    )
    message.created_at.CopyFrom(_ts(alert.created_at))
    message.updated_at.CopyFrom(_ts(alert.updated_at))
    if alert.next_escalation_at is not None:
        message.next_escalation_at.CopyFrom(_ts(alert.next_escalation_at))
    return message


def event_to_pb(
    seq: int, type_: int, alert: bytes, actor: str, reason: str, occurred_at: float
) -> pb.AlertEvent:
    event = pb.AlertEvent(
        cursor=str(seq),
        type=type_,  # type: ignore[arg-type]
        alert=pb.Alert.FromString(alert),
        actor=actor,
        reason=reason,
    )
    event.occurred_at.CopyFrom(_ts(occurred_at))
    return event


def parse_cursor(text: str) -> int:
    """A feed cursor is the decimal ``seq`` of an event (0 = before the first event)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise InvalidArgument(
            f"resume_cursor {text[:40]!r} is malformed: expected a decimal cursor"
        )
    return int(text)


def parse_alert_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise InvalidArgument(f"alert_id {text[:40]!r} must be a UUID") from None


def encode_page_token(created_at_micros: int, alert_id: str) -> str:
    raw = f"{created_at_micros}:{alert_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[int, str]:
    """Position after which the next page starts; INVALID_ARGUMENT when tampered with."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        micros, _, alert_id = raw.partition(":")
        return int(micros), str(uuid.UUID(alert_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidArgument("page_token is malformed: pass back a next_page_token") from None
