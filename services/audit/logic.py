"""Pure audit rules: event values, what the MAC covers, validation, partitions, keys.

No I/O. Times are integer microseconds since the epoch (UTC) everywhere the chain sees
them, because ``chain.canonical`` refuses floats.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mesh.errors import ConfigError
from mesh.paging import page_size
from mesh.status import InvalidArgument
from services.audit.chain import GENESIS, AuditRecord, canonical

__all__ = [
    "MAX_APPEND",
    "AuditEventData",
    "KeyRing",
    "StoredEvent",
    "daily_partition",
    "decode_page_token",
    "encode_page_token",
    "keyring_from_env",
    "page_size",
    "validate_event",
]

MAX_APPEND = 500
MAX_CONTEXT_ENTRIES = 64
MAX_TEXT = 512
OUTCOMES = frozenset({"ALLOWED", "DENIED"})


@dataclass(frozen=True, slots=True)
class AuditEventData:
    """One audit event as the caller describes it (plus ``recorded_at_us``, set by us)."""

    audit_id: str
    actor_user_id: str
    actor_role: str
    event_type: str
    action: str
    resource: str
    outcome: str
    occurred_at_us: int
    recorded_at_us: int = 0
    resource_id: str = ""
    resident_id: str = ""
    phi_accessed: bool = False
    compliance_context: str = ""
    break_glass: bool = False
    trace_id: str = ""
    additional_context: Mapping[str, str] = field(default_factory=dict)

    def content(self) -> dict[str, Any]:
        """What the integrity hash covers besides the envelope (audit_id, partition,
        sequence, key_id). Every stored column must be here, or editing it goes unseen."""
        return {
            "actor_user_id": self.actor_user_id,
            "actor_role": self.actor_role,
            "event_type": self.event_type,
            "action": self.action,
            "resource": self.resource,
            "resource_id": self.resource_id,
            "resident_id": self.resident_id,
            "phi_accessed": self.phi_accessed,
            "compliance_context": self.compliance_context,
            "break_glass": self.break_glass,
            "outcome": self.outcome,
            "trace_id": self.trace_id,
            "additional_context": dict(self.additional_context),
            "occurred_at_us": self.occurred_at_us,
            "recorded_at_us": self.recorded_at_us,
        }

    def canonical_content(self) -> str:
        """``chain.canonical(self.content())`` as text, written out directly (keys in
        sorted order) because it runs for every record sealed; values of another type
        than declared go through ``canonical`` itself (which refuses floats)."""
        ints = (self.occurred_at_us, self.recorded_at_us)
        bools = (self.phi_accessed, self.break_glass)
        texts = (
            self.action,
            self.actor_role,
            self.actor_user_id,
            self.compliance_context,
            self.event_type,
            self.outcome,
            self.resident_id,
            self.resource,
            self.resource_id,
            self.trace_id,
        )
        context = context_json(self.additional_context)
        if (
            context is None
            or any(type(v) is not int for v in ints)
            or any(type(v) is not bool for v in bools)
            or any(type(v) is not str for v in texts)
        ):
            return canonical(self.content()).decode("utf-8")
        q = _quote
        return (
            f'{{"action":{q(self.action)},"actor_role":{q(self.actor_role)},'
            f'"actor_user_id":{q(self.actor_user_id)},"additional_context":{context},'
            f'"break_glass":{_JSON_BOOL[self.break_glass]},'
            f'"compliance_context":{q(self.compliance_context)},'
            f'"event_type":{q(self.event_type)},"occurred_at_us":{self.occurred_at_us},'
            f'"outcome":{q(self.outcome)},"phi_accessed":{_JSON_BOOL[self.phi_accessed]},'
            f'"recorded_at_us":{self.recorded_at_us},"resident_id":{q(self.resident_id)},'
            f'"resource":{q(self.resource)},"resource_id":{q(self.resource_id)},'
            f'"trace_id":{q(self.trace_id)}}}'
        )

    def stamped(self, recorded_at_us: int) -> AuditEventData:
        """This event with ``recorded_at_us`` set (``dataclasses.replace``, cheaper)."""
        return AuditEventData(
            self.audit_id,
            self.actor_user_id,
            self.actor_role,
            self.event_type,
            self.action,
            self.resource,
            self.outcome,
            self.occurred_at_us,
            recorded_at_us,
            self.resource_id,
            self.resident_id,
            self.phi_accessed,
            self.compliance_context,
            self.break_glass,
            self.trace_id,
            self.additional_context,
        )


_JSON_BOOL = {True: "true", False: "false"}
#: A JSON string literal exactly as ``chain.canonical`` writes it (``ensure_ascii=False``).
_quote: Callable[[str], str] = json.encoder.encode_basestring


def context_json(context: Mapping[str, str]) -> str | None:
    """``additional_context`` as canonical JSON text (sorted keys, compact), or None when
    a key or value is not a string (then only ``chain.canonical`` may decide)."""
    for k, v in context.items():
        if type(k) is not str or type(v) is not str:
            return None
    items = sorted(context.items())
    return "{" + ",".join(f"{_quote(k)}:{_quote(v)}" for k, v in items) + "}"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: the data plus its place in the chain."""

    data: AuditEventData
    partition: str
    sequence: int
    prev_hash: str
    integrity_hash: str
    key_id: str

    def record(self) -> AuditRecord:
        return AuditRecord(
            partition=self.partition,
            sequence=self.sequence,
            audit_id=self.data.audit_id,
            content=self.data.content(),
            prev_hash=self.prev_hash,
            key_id=self.key_id,
            record_hash=self.integrity_hash,
        )

    @property
    def wire_prev_hash(self) -> str:
        """The proto says prev_hash is empty for the first event; the chain uses GENESIS."""
        return "" if self.prev_hash == GENESIS else self.prev_hash


def validate_event(event: AuditEventData, index: int) -> None:
    """Raise ``InvalidArgument`` naming ``events[index].<field>`` when the event is unusable."""
    where = f"events[{index}]"
    required = {
        "audit_id": event.audit_id,
        "actor_user_id": event.actor_user_id,
        "event_type": event.event_type,
        "action": event.action,
        "resource": event.resource,
    }
    for name, value in required.items():
        if not value:
            raise InvalidArgument(f"{where}.{name} is required")
        if len(value) > MAX_TEXT:
            raise InvalidArgument(f"{where}.{name} is longer than {MAX_TEXT} characters")
    if event.outcome not in OUTCOMES:
        raise InvalidArgument(f"{where}.outcome must be AUDIT_OUTCOME_ALLOWED or _DENIED")
    if event.occurred_at_us <= 0:
        raise InvalidArgument(f"{where}.occurred_at is required")
    if len(event.additional_context) > MAX_CONTEXT_ENTRIES:
        raise InvalidArgument(
            f"{where}.additional_context has more than {MAX_CONTEXT_ENTRIES} entries"
        )
    for key, value in event.additional_context.items():
        if len(key) > MAX_TEXT or len(value) > 4 * MAX_TEXT:
            raise InvalidArgument(f"{where}.additional_context[{key[:40]!r}] is too long")


def validate_batch(events: Sequence[AuditEventData]) -> None:
    if len(events) > MAX_APPEND:
        raise InvalidArgument(f"events: at most {MAX_APPEND} per call, got {len(events)}")
    for i, event in enumerate(events):
        validate_event(event, i)


def daily_partition(recorded_at_us: int) -> str:
    """One chain per UTC day: bounded chains to verify, and one lock per day."""
    return datetime.fromtimestamp(recorded_at_us / 1_000_000, UTC).strftime("%Y-%m-%d")


def encode_page_token(*parts: int | str) -> str:
    raw = "|".join(str(p) for p in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str, kinds: Sequence[type]) -> list[Any]:
    """Parse a token made by ``encode_page_token`` with parts of ``kinds`` (int or str)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        parts = raw.split("|", len(kinds) - 1)
        if len(parts) != len(kinds):
            raise ValueError(token)
        return [kind(part) for kind, part in zip(kinds, parts, strict=True)]
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token is not a token this service issued") from None


@dataclass(frozen=True, slots=True)
class KeyRing:
    """HMAC keys by id; new records are sealed with ``active_id``, old ones verified by
    the id stored on them (so retired keys must stay here as long as their records)."""

    active_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise ConfigError(f"audit key {self.active_id!r} is not in the key ring")
        for kid, key in self.keys.items():
            if len(key) < 32:
                raise ConfigError(f"audit key {kid!r} is shorter than 32 bytes")

    @property
    def active_key(self) -> bytes:
        return self.keys[self.active_id]


def keyring_from_env(environ: Mapping[str, str]) -> KeyRing:
    """``LILO_AUDIT_HMAC_KEY`` (required, >= 32 bytes), ``LILO_AUDIT_HMAC_KEY_ID``
    (default ``k1``), ``LILO_AUDIT_HMAC_RETIRED_KEYS`` (``id:secret,id:secret``)."""
    secret = environ.get("LILO_AUDIT_HMAC_KEY", "")
    if not secret:
        raise ConfigError("LILO_AUDIT_HMAC_KEY is not set: audit records cannot be sealed")
    active = environ.get("LILO_AUDIT_HMAC_KEY_ID", "k1") or "k1"
    keys: dict[str, bytes] = {}
    for item in filter(None, environ.get("LILO_AUDIT_HMAC_RETIRED_KEYS", "").split(",")):
        kid, sep, value = item.partition(":")
        if not sep or not kid or not value:
            raise ConfigError("LILO_AUDIT_HMAC_RETIRED_KEYS must be 'id:secret,...'")
        keys[kid.strip()] = value.encode()
    keys[active] = secret.encode()
    return KeyRing(active, keys)


def to_us(dt: datetime) -> int:
    """Exact integer microseconds of an aware datetime (no float rounding)."""
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)
