"""Identity and compliance logic the mesh enforces on every call (pure; no I/O).

Modules: ``principal`` (who is calling), ``tokens`` (Ed25519 JWT key set, refresh-token
families), ``passwords`` (argon2id), ``totp`` (second factor), ``rbac`` (``authorize``).

Exception tree (``mesh.identity.errors``)::

    IdentityError
    ├── AuthenticationError
    │   ├── TokenExpired
    │   ├── TokenInvalid
    │   ├── MfaRequired
    │   ├── MfaInvalid
    │   ├── RefreshTokenRevoked
    │   ├── RefreshTokenReused
    │   ├── RefreshTokenExpired
    │   └── BadCredentials
    └── AuthorizationError
        └── PermissionDenied
"""

from mesh.identity.errors import (
    AuthenticationError,
    AuthorizationError,
    BadCredentials,
    IdentityError,
    MfaInvalid,
    MfaRequired,
    PermissionDenied,
    RefreshTokenExpired,
    RefreshTokenReused,
    RefreshTokenRevoked,
    TokenExpired,
    TokenInvalid,
)
from mesh.identity.principal import (
    BreakGlassGrant,
    ConsentLevel,
    PatientRelation,
    Principal,
    PrincipalKind,
    Relationship,
    Role,
)

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BadCredentials",
    "BreakGlassGrant",
    "ConsentLevel",
    "IdentityError",
    "MfaInvalid",
    "MfaRequired",
    "PatientRelation",
    "PermissionDenied",
    "Principal",
    "PrincipalKind",
    "RefreshTokenExpired",
    "RefreshTokenReused",
    "RefreshTokenRevoked",
    "Relationship",
    "Role",
    "TokenExpired",
    "TokenInvalid",
]
