"""AES-GCM for secrets the auth service must be able to read back (TOTP secrets, signing keys).

The key comes from ``LILO_AUTH_SECRET_KEY`` (base64 of 32 bytes). Every ciphertext is bound
to a purpose label (associated data, e.g. ``"mfa:<user id>"``) so a value copied into
another row does not decrypt there. Layout: 12-byte nonce || ciphertext+tag.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["ENV_KEY", "SecretBox", "SecretBoxError"]

log = logging.getLogger(__name__)

ENV_KEY = "LILO_AUTH_SECRET_KEY"
# Used only when the variable is unset (local development); logged loudly.
_DEV_KEY = hashlib.sha256(b"lilo-mesh insecure development key").digest()


class SecretBoxError(Exception):
    """A ciphertext could not be opened (wrong key, wrong purpose, or corrupt)."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("SecretBox key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_env(cls) -> SecretBox:
        raw = os.environ.get(ENV_KEY, "")
        if not raw:
            log.warning("%s is not set: using the INSECURE development key", ENV_KEY)
            return cls(_DEV_KEY)
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=False)
        except ValueError as exc:
            raise ValueError(f"{ENV_KEY} is not base64") from exc
        return cls(key)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        if len(sealed) < 12 + 16:
            raise SecretBoxError("ciphertext too short")
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], purpose.encode())
        except InvalidTag:
            raise SecretBoxError(f"cannot open secret for {purpose!r}") from None
