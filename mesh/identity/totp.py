"""TOTP second factor (RFC 6238, SHA-1, 6 digits, 30 s steps) via pyotp.

Pure: time is passed in, and replay protection is the caller's stored ``last_used_step``.
``verify`` accepts the current step and one step either side (clock drift of a phone),
returns the step that matched, and the caller stores it; a later call must match a step
strictly greater than the stored one, so a code cannot be used twice (and an older code
cannot be used after a newer one).
"""

from __future__ import annotations

import hmac

import pyotp

from mesh.identity.errors import MfaInvalid

__all__ = [
    "DIGITS",
    "STEP_SECONDS",
    "WINDOW",
    "code_at",
    "new_secret",
    "provisioning_uri",
    "step_at",
    "verify",
]

STEP_SECONDS = 30
DIGITS = 6
#: Steps accepted either side of the current one.
WINDOW = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account_name: str, issuer: str = "Lilo") -> str:
    """``otpauth://`` URI for authenticator apps (shown once as a QR code at enrolment)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer
    )


def step_at(now: float) -> int:
    return int(now // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """The code for ``step`` (tests and enrolment confirmation use it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def verify(secret: str, code: str, now: float, last_used_step: int | None = None) -> int:
    """Return the matched step, or raise ``MfaInvalid`` (wrong, out of window, or replayed)."""
    code = code.replace(" ", "")
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        raise MfaInvalid("malformed code")
    current = step_at(now)
    matches: list[int] = []
    # Compare every step in the window without stopping early, so timing does not reveal
    # which offset matched.
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            matches.append(step)
    if not matches:
        raise MfaInvalid("wrong code")
    fresh = [s for s in matches if last_used_step is None or s > last_used_step]
    if not fresh:
        raise MfaInvalid("code already used")
    return fresh[0]
