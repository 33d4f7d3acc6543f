"""Password hashing with argon2id (argon2-cffi).

Stored hashes are PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) so the
parameters travel with the hash; ``needs_rehash`` tells the login path to re-hash with the
current policy after a successful verify. ``verify`` never raises on a mismatch or a
corrupt stored hash; it returns False, and :func:`dummy_verify` lets the login path spend
the same time when the user does not exist (no user-enumeration by timing).
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mesh.identity.errors import BadCredentials

__all__ = ["PasswordPolicy", "Passwords"]


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """argon2id cost parameters. Defaults are RFC 9106's second recommended option
    (64 MiB, t=3, p=4); tests pass a cheap policy."""

    time_cost: int = 3
    memory_cost_kib: int = 64 * 1024
    parallelism: int = 4
    hash_len: int = 32
    salt_len: int = 16
    #: Upper bound on input length: argon2 itself has none and huge inputs cost CPU.
    max_password_bytes: int = 1024


class Passwords:
    def __init__(self, policy: PasswordPolicy = PasswordPolicy()) -> None:
        self.policy = policy
        self._hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_cost_kib,
            parallelism=policy.parallelism,
            hash_len=policy.hash_len,
            salt_len=policy.salt_len,
            type=Type.ID,
        )
        self._dummy = self._hasher.hash("dummy password for timing equalisation")

    def hash(self, password: str) -> str:
        """PHC-format argon2id hash with a fresh random salt."""
        if not password:
            raise ValueError("empty password")
        if len(password.encode("utf-8")) > self.policy.max_password_bytes:
            raise ValueError("password too long")
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True iff ``password`` matches; False on mismatch, corrupt hash or oversize input."""
        if len(password.encode("utf-8")) > self.policy.max_password_bytes:
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def check(self, stored_hash: str | None, password: str) -> None:
        """Raise ``BadCredentials`` unless it matches; ``None`` (unknown user) costs a verify."""
        if stored_hash is None:
            self.dummy_verify(password)
            raise BadCredentials("bad credentials")
        if not self.verify(stored_hash, password):
            raise BadCredentials("bad credentials")

    def dummy_verify(self, password: str) -> None:
        """Spend one verify's worth of time; always fails."""
        self.verify(self._dummy, password + "\x00")

    def needs_rehash(self, stored_hash: str) -> bool:
        """True if ``stored_hash`` was made with other parameters (or another variant)."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
