"""Pure rules of the auth service: configuration, input and password policy, sign-in outcome,
session liveness and key-rotation timing. No I/O; ``now`` is always passed in (epoch s).

Exceptions: :class:`InputError` (a ``ValueError`` naming the request field) is the only one;
the servicer turns it into INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from mesh.identity.principal import Relationship, Role
from mesh.identity.rbac import requires_mfa
from mesh.identity.tokens import (
    ACCESS_TOKEN_TTL,
    MAX_ACCESS_TOKEN_TTL,
    REFRESH_FAMILY_TTL,
    REFRESH_TOKEN_TTL,
)

__all__ = [
    "AuthConfig",
    "InputError",
    "LoginOutcome",
    "check_password_policy",
    "login_outcome",
    "normalize_email",
    "normalize_username",
    "relation_fits_role",
    "rotation_due",
    "session_alive",
]


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Lifetimes (seconds) and limits; the defaults are the production values."""

    issuer: str = "lilo-auth"
    audience: str = "lilo-mesh"
    access_ttl: float = ACCESS_TOKEN_TTL
    #: Tokens of a session that still has to enrol MFA: short, they only reach Enroll/Confirm.
    restricted_access_ttl: float = 10 * 60.0
    max_access_ttl: float = MAX_ACCESS_TOKEN_TTL
    refresh_token_ttl: float = REFRESH_TOKEN_TTL
    refresh_family_ttl: float = REFRESH_FAMILY_TTL
    #: A session without activity (login, refresh, verify) for this long is over.
    session_idle_ttl: float = 12 * 3600.0
    challenge_ttl: float = 5 * 60.0
    max_challenge_attempts: int = 5
    enrollment_ttl: float = 10 * 60.0
    #: A new signing key is made when the current one is this old.
    key_rotation_interval: float = 7 * 24 * 3600.0
    totp_issuer: str = "Lilo"

    def __post_init__(self) -> None:
        if not 0 < self.access_ttl <= self.max_access_ttl:
            raise ValueError("need 0 < access_ttl <= max_access_ttl")
        if not 0 < self.restricted_access_ttl <= self.max_access_ttl:
            raise ValueError("need 0 < restricted_access_ttl <= max_access_ttl")
        if self.key_rotation_interval <= 0 or self.session_idle_ttl <= 0:
            raise ValueError("key_rotation_interval and session_idle_ttl must be positive")


class InputError(ValueError):
    """A request field is invalid; ``field`` names it, the message says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# The few passwords people pick most often that would pass the length rule.
_COMMON = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "letmeinletmein",
        "iloveyou1234",
        "administrator",
        "welcome12345",
        "changeme1234",
    }
)


def normalize_username(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def normalize_email(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().lower()


def validate_username(username: str) -> str:
    name = normalize_username(username)
    if not _USERNAME.match(name):
        raise InputError(
            "username",
            "must be 3-64 characters of a-z, 0-9 and . _ @ + -, starting with a letter or digit",
        )
    return name


def validate_email(email: str) -> str:
    value = normalize_email(email)
    if len(value) > 254 or not _EMAIL.match(value):
        raise InputError("email", "must be an e-mail address like name@example.org")
    return value


def check_password_policy(password: str, *, username: str, email: str) -> None:
    """NIST 800-63B style: length over composition; refuse the obvious and the personal."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InputError("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 5:
        raise InputError("password", "must use at least 5 different characters")
    lowered = password.lower()
    if lowered in _COMMON:
        raise InputError("password", "is too common")
    local = email.split("@", 1)[0]
    for personal in (username, local):
        if len(personal) >= 4 and personal in lowered:
            raise InputError("password", "must not contain the username or e-mail name")


def relation_fits_role(role: Role, relationship: Relationship) -> bool:
    """Family relations belong to family members, provider to providers, caregiver to staff."""
    expected = {
        Role.FAMILY_MEMBER: Relationship.FAMILY,
        Role.HEALTH_PROVIDER: Relationship.PROVIDER,
        Role.CARE_STAFF: Relationship.CAREGIVER,
    }.get(role)
    return expected is relationship


class LoginOutcome(StrEnum):
    """What a correct password leads to."""

    #: The user has TOTP: answer a challenge first.
    CHALLENGE = "challenge"
    #: Role needs MFA, none enrolled: tokens that only reach EnrollMfa/ConfirmMfa/Logout.
    RESTRICTED = "restricted"
    #: Role without MFA requirement and no TOTP enrolled: ordinary tokens (mfa=False).
    TOKENS = "tokens"


def login_outcome(role: Role, mfa_enrolled: bool) -> LoginOutcome:
    if mfa_enrolled:
        return LoginOutcome.CHALLENGE
    if requires_mfa(role):
        return LoginOutcome.RESTRICTED
    return LoginOutcome.TOKENS


def session_alive(
    *, created_at: float, last_seen: float, now: float, idle_ttl: float, max_age: float
) -> bool:
    """A session lives while it is used at least every ``idle_ttl`` and is younger than
    ``max_age`` (the refresh family's absolute lifetime)."""
    return now < last_seen + idle_ttl and now < created_at + max_age


def rotation_due(current_created_at: float, now: float, interval: float) -> bool:
    return now >= current_created_at + interval
