"""Exceptions raised by the identity package.

Every failure is an :class:`IdentityError`; callers map the two branches to gRPC status
codes (``AuthenticationError`` -> UNAUTHENTICATED, ``AuthorizationError`` ->
PERMISSION_DENIED)::

    IdentityError
    ├── AuthenticationError        who are you? (the credential is not acceptable)
    │   ├── TokenExpired           access token past its exp (signature was valid)
    │   ├── TokenInvalid           bad signature, unknown kid, wrong iss/aud, malformed, bad alg
    │   ├── MfaRequired            the role needs a second factor that was not given
    │   ├── MfaInvalid             wrong or replayed TOTP code
    │   ├── RefreshTokenRevoked    refresh token (or its family) was revoked
    │   ├── RefreshTokenReused     an already rotated refresh token came back; family revoked
    │   ├── RefreshTokenExpired    refresh token or its family is past its lifetime
    │   └── BadCredentials         wrong password or unknown user (never says which)
    └── AuthorizationError         you are known, but may not do this
        └── PermissionDenied       carries the decision's reason code
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BadCredentials",
    "IdentityError",
    "MfaInvalid",
    "MfaRequired",
    "PermissionDenied",
    "RefreshTokenExpired",
    "RefreshTokenReused",
    "RefreshTokenRevoked",
    "TokenExpired",
    "TokenInvalid",
]


class IdentityError(Exception):
    """Base of every identity failure."""


class AuthenticationError(IdentityError):
    """The presented credential does not establish an identity."""


class TokenExpired(AuthenticationError):
    """The access token's signature is valid but its ``exp`` is not after the injected now."""


class TokenInvalid(AuthenticationError):
    """The token is not one we issued: signature, key id, algorithm, issuer, audience or shape."""


class MfaRequired(AuthenticationError):
    """The principal's role requires a verified second factor."""


class MfaInvalid(AuthenticationError):
    """The one-time code is wrong, outside the accepted window, or was already used."""


class RefreshTokenRevoked(AuthenticationError):
    """The refresh token or its whole family was revoked (logout, reuse, admin action)."""


class RefreshTokenReused(AuthenticationError):
    """A refresh token that was already rotated was presented again.

    This means the token leaked (or a client raced itself); the whole family is revoked
    before this is raised, so every token descended from the same login stops working.
    """


class RefreshTokenExpired(AuthenticationError):
    """The refresh token, or the family's absolute lifetime, has passed."""


class BadCredentials(AuthenticationError):
    """Password (or user) did not match. Deliberately does not say which."""


class AuthorizationError(IdentityError):
    """An authenticated principal may not perform the requested action."""


class PermissionDenied(AuthorizationError):
    """Raised from a denied :class:`mesh.identity.rbac.Decision`.

    ``reason`` is the machine-readable reason code (a ``rbac.Reason`` value).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
