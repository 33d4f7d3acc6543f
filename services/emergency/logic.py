"""Pure break-glass rules: configuration, validation, activity, review and revocation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mesh.errors import ConfigError
from mesh.status import FailedPrecondition, InvalidArgument

__all__ = [
    "Access",
    "EmergencyConfig",
    "config_from_env",
    "review",
    "revoke",
    "validate_request",
]

#: EmergencyType enum value -> stored name.
TYPE_NAMES: Mapping[int, str] = {
    1: "medical",
    2: "mental_health_crisis",
    3: "safety_threat",
    4: "missing_person",
}
TYPE_VALUES: Mapping[str, int] = {v: k for k, v in TYPE_NAMES.items()}
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class EmergencyConfig:
    max_duration: timedelta = timedelta(hours=1)
    min_justification: int = 20


def config_from_env(environ: Mapping[str, str]) -> EmergencyConfig:
    """``LILO_EMERGENCY_MAX_SECONDS`` (default 3600), ``LILO_EMERGENCY_MIN_JUSTIFICATION``
    (characters, default 20)."""
    try:
        seconds = int(environ.get("LILO_EMERGENCY_MAX_SECONDS", "3600"))
        minimum = int(environ.get("LILO_EMERGENCY_MIN_JUSTIFICATION", "20"))
    except ValueError as exc:
        raise ConfigError(f"emergency access settings must be integers: {exc}") from None
    if not 60 <= seconds <= 24 * 3600:
        raise ConfigError("LILO_EMERGENCY_MAX_SECONDS must be between 60 and 86400")
    if minimum < 1:
        raise ConfigError("LILO_EMERGENCY_MIN_JUSTIFICATION must be at least 1")
    return EmergencyConfig(timedelta(seconds=seconds), minimum)


@dataclass(frozen=True, slots=True)
class Access:
    access_id: str
    user_id: str
    organization_id: str
    patient_id: str
    emergency_type: str
    justification: str
    granted_at: datetime
    expires_at: datetime
    review_status: str = "pending"  # pending | approved | rejected
    reviewed_by: str = ""
    review_note: str = ""
    reviewed_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str = ""
    revoke_reason: str = ""
    trace_id: str = ""

    def active(self, now: datetime) -> bool:
        """In force: not revoked and ``now`` is before expiry (expiry needs no writer)."""
        return self.revoked_at is None and now < self.expires_at


def validate_request(
    *,
    patient_id: str,
    justification: str,
    emergency_type: int,
    requested: timedelta | None,
    config: EmergencyConfig,
) -> tuple[str, timedelta]:
    """Check a request; return (type name, granted duration, cut to the maximum)."""
    if not patient_id:
        raise InvalidArgument("patient_id is required")
    text = justification.strip()
    if not text:
        raise InvalidArgument("justification is required")
    if len(text) < config.min_justification:
        raise InvalidArgument(
            f"justification must be at least {config.min_justification} characters"
        )
    if len(text) > MAX_TEXT:
        raise InvalidArgument(f"justification is longer than {MAX_TEXT} characters")
    name = TYPE_NAMES.get(emergency_type)
    if name is None:
        raise InvalidArgument("emergency_type must be set to a known EmergencyType")
    if requested is not None and requested <= timedelta(0):
        raise InvalidArgument("requested_duration must be positive")
    duration = config.max_duration if requested is None else min(requested, config.max_duration)
    return name, duration


def review(access: Access, decision: str, note: str, reviewer: str, now: datetime) -> Access:
    """Record an approval or rejection; rejecting an access still in force ends it."""
    if decision not in ("approved", "rejected"):
        raise InvalidArgument("decision must be REVIEW_STATUS_APPROVED or REVIEW_STATUS_REJECTED")
    if not note.strip():
        raise InvalidArgument("note is required")
    if len(note) > MAX_TEXT:
        raise InvalidArgument(f"note is longer than {MAX_TEXT} characters")
    if access.review_status != "pending":
        raise FailedPrecondition(f"access was already reviewed ({access.review_status})")
    out = replace(
        access, review_status=decision, reviewed_by=reviewer, review_note=note, reviewed_at=now
    )
    if decision == "rejected" and access.active(now):
        out = replace(out, revoked_at=now, revoked_by=reviewer, revoke_reason="rejected on review")
    return out


def revoke(access: Access, actor: str, reason: str, now: datetime) -> Access:
    """End an access early; an access already ended (revoked or expired) is unchanged."""
    if len(reason) > MAX_TEXT:
        raise InvalidArgument(f"reason is longer than {MAX_TEXT} characters")
    if not access.active(now):
        return access
    return replace(access, revoked_at=now, revoked_by=actor, revoke_reason=reason)
