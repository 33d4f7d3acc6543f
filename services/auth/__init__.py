"""AuthService: sign-in (password + TOTP), sessions, token issue/rotation and the JWKS.

Accounts, relations, signing keys and refresh-token families live in PostgreSQL (schema
``auth``); sessions, MFA challenges and pending enrolments live in Redis. Access tokens are
Ed25519 JWTs from a persisted, rotating ``mesh.identity.tokens.KeySet``; the public JWKS is
written to ``LILO_JWKS_FILE`` so every other service can verify tokens offline.

Modules: ``logic`` (pure rules: validation, password policy, session/rotation decisions),
``secretbox`` (AES-GCM for secrets at rest), ``store`` (asyncpg), ``sessions`` (Redis),
``keys`` (persisted key set + JWKS publishing), ``servicer`` (the rpcs), ``seed`` (demo data).

Errors: handlers raise ``mesh.status`` errors; the identity failures they catch come from
``mesh.identity.errors`` (``AuthenticationError`` -> UNAUTHENTICATED). The package's own
exception is ``secretbox.SecretBoxError`` (a stored ciphertext cannot be opened: wrong
``LILO_AUTH_SECRET_KEY``), which surfaces as INTERNAL.
"""
