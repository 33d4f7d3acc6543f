"""The auth service's persisted, rotating signing keys and the JWKS file it publishes.

Keys live in ``auth.signing_keys`` (private halves sealed with the ``SecretBox``), so a
restart keeps verifying every token issued before it. ``KeyManager.tick(now)`` reloads the
table (picking up a rotation made by another instance), rotates when the current key is
``key_rotation_interval`` old (compare-and-set in the database, so two instances never both
rotate), drops keys whose tokens have all expired, and rewrites the JWKS file whenever the
set of published keys changed. The file is written atomically (temp file + rename) so a
reader never sees half a document.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from mesh.clock import Clock
from mesh.identity.principal import Principal
from mesh.identity.tokens import KeySet, SigningKey, TokenVerifier
from services.auth.logic import AuthConfig, rotation_due
from services.auth.secretbox import SecretBox
from services.auth.store import AuthStore, KeyRow

__all__ = ["KeyManager", "LiveVerifier", "write_jwks"]

log = logging.getLogger(__name__)


def write_jwks(path: Path, jwks: dict[str, Any]) -> None:
    """Write ``jwks`` to ``path`` atomically: readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(jwks, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # public keys: every service may read them
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _raw(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


class KeyManager:
    def __init__(
        self,
        store: AuthStore,
        box: SecretBox,
        config: AuthConfig,
        *,
        jwks_path: Path | None = None,
        key_factory: Callable[[], Ed25519PrivateKey] = Ed25519PrivateKey.generate,
    ) -> None:
        self._store = store
        self._box = box
        self._config = config
        self._jwks_path = jwks_path
        self._key_factory = key_factory
        self._keyset: KeySet | None = None
        self._published: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    @property
    def keyset(self) -> KeySet:
        if self._keyset is None:
            raise RuntimeError("KeyManager.load() has not run")
        return self._keyset

    def _seal(self, key: SigningKey) -> bytes:
        return self._box.seal(_raw(key.private_key), f"signing-key:{key.kid}")

    def _unseal(self, row: KeyRow) -> SigningKey:
        private = Ed25519PrivateKey.from_private_bytes(
            self._box.open(row.private_key, f"signing-key:{row.kid}")
        )
        return SigningKey(row.kid, private, row.created_at, row.verify_until)

    async def _live_rows(self, now: float) -> list[KeyRow]:
        rows = [
            r
            for r in await self._store.signing_keys()
            if r.verify_until is None or now < r.verify_until
        ]
        # Current key last, retired ones by age before it.
        rows.sort(key=lambda r: (r.verify_until is None, r.created_at))
        return rows

    async def _reload(self, now: float) -> None:
        rows = await self._live_rows(now)
        if not rows or rows[-1].verify_until is not None:
            fresh = KeySet(
                self._config.issuer, self._config.audience, now, key_factory=self._key_factory
            )
            await self._store.insert_first_key(fresh.current.kid, self._seal(fresh.current), now)
            rows = await self._live_rows(now)
        self._keyset = KeySet.restore(
            self._config.issuer,
            self._config.audience,
            [self._unseal(r) for r in rows],
            max_ttl=self._config.max_access_ttl,
            default_ttl=self._config.access_ttl,
            key_factory=self._key_factory,
        )

    async def load(self, now: float) -> KeySet:
        """Load (or create) the keys and publish the JWKS; call once at start."""
        await self.tick(now, force_publish=True)
        return self.keyset

    async def tick(self, now: float, *, force_publish: bool = False) -> bool:
        """Reload, rotate if due, prune, publish if changed. True if this call rotated."""
        async with self._lock:
            await self._reload(now)
            rotated = False
            current = self.keyset.current
            if rotation_due(current.created_at, now, self._config.key_rotation_interval):
                new = self.keyset.rotate(now)
                old = next(k for k in self.keyset.keys if k.kid == current.kid)
                assert old.verify_until is not None
                rotated = await self._store.rotate_key(
                    current.kid, new.kid, self._seal(new), now, old.verify_until
                )
                if rotated:
                    log.info("rotated signing key %s -> %s", current.kid, new.kid)
                # Either way the table now says what is current (ours or another instance's).
                await self._reload(now)
            await self._store.delete_expired_keys(now)
            jwks = self.keyset.jwks()
            if force_publish or jwks != self._published:
                self.publish(jwks)
            return rotated

    def publish(self, jwks: dict[str, Any] | None = None) -> None:
        jwks = jwks if jwks is not None else self.keyset.jwks()
        if self._jwks_path is not None:
            write_jwks(self._jwks_path, jwks)
            log.info("published %d key(s) to %s", len(jwks["keys"]), self._jwks_path)
        self._published = jwks

    async def run(self, clock: Clock, every: float = 60.0) -> None:
        """Background loop for the service process: tick every ``every`` seconds."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.tick(clock.wall())
            except Exception:  # keep serving with the keys we have; retry next round
                log.exception("signing-key maintenance failed")

    def verifier(self) -> LiveVerifier:
        return LiveVerifier(self)


class LiveVerifier(TokenVerifier):
    """A ``TokenVerifier`` that always uses the manager's current key set, so the auth
    service's own access controller follows rotations without being rebuilt."""

    def __init__(self, manager: KeyManager) -> None:
        config = manager._config
        super().__init__(config.issuer, config.audience, {})
        self._manager = manager

    def verify(self, token: str, now: float) -> Principal:
        return self._manager.keyset.verify(token, now)
