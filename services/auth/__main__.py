"""``python -m services.auth``: the auth service, started through ``mesh.runner.run``.

Environment (besides the runner's): ``DATABASE_URL`` and ``REDIS_URL`` (required),
``LILO_JWKS_FILE`` (where the public JWKS is written for the other services; required),
``LILO_AUTH_SECRET_KEY`` (base64 of 32 bytes; seals TOTP secrets and signing keys; unset =
insecure development key), ``LILO_AUTH_KEY_ROTATION_SECONDS`` (default 7 days),
``LILO_AUTH_SEED_DEMO=1`` (create the demo organisation and users at start),
``LILO_AUDIT_HMAC_KEY`` (when set, rate-limited sign-ins are written to the audit log in
this service's database, through the same sink the PHI services use).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from mesh.errors import ConfigError
from mesh.identity.principal import Principal
from mesh.identity.tokens import TokenVerifier
from mesh.runner import AUDIENCE, ISSUER, ServiceDeps, run
from services.auth.keys import KeyManager
from services.auth.logic import AuthConfig
from services.auth.secretbox import SecretBox
from services.auth.servicer import AuthServicer

MIGRATIONS = Path(__file__).parent / "migrations"
#: From the proto: (lilo.options.v1.service).default_port.
DEFAULT_PORT = 8080


def config_from_env() -> AuthConfig:
    rotation = float(os.environ.get("LILO_AUTH_KEY_ROTATION_SECONDS", 7 * 24 * 3600))
    return AuthConfig(issuer=ISSUER, audience=AUDIENCE, key_rotation_interval=rotation)


class OwnKeysVerifier(TokenVerifier):
    """The auth service verifies with its own (rotating) key set, not the JWKS file.

    The runner needs the verifier before ``build`` has loaded the keys from the database,
    so this one is bound to the key manager inside ``build``; no call is served before.
    """

    def __init__(self) -> None:
        super().__init__(ISSUER, AUDIENCE, {})
        self._manager: KeyManager | None = None

    def bind(self, keys: KeyManager) -> None:
        self._manager = keys

    def verify(self, token: str, now: float) -> Principal:
        if self._manager is None:
            raise RuntimeError("auth signing keys are not loaded yet")
        return self._manager.keyset.verify(token, now)


VERIFIER = OwnKeysVerifier()


async def build(deps: ServiceDeps) -> list[object]:
    jwks = os.environ.get("LILO_JWKS_FILE", "")
    if not jwks:
        raise ConfigError("auth needs LILO_JWKS_FILE (where it publishes the public keys)")
    assert deps.db is not None and deps.redis is not None
    box = SecretBox.from_env()
    if os.environ.get("LILO_AUTH_SEED_DEMO") == "1":
        from services.auth.seed import seed_demo

        await seed_demo(deps.db, box=box)
    audit = None
    if os.environ.get("LILO_AUDIT_HMAC_KEY"):
        from mesh import audit_sink

        audit = (await audit_sink.install(deps)).writer
    servicer = await AuthServicer.create(
        deps.db,
        deps.redis,
        clock=deps.clock,
        config=config_from_env(),
        jwks_path=Path(jwks),
        box=box,
        audit=audit,
    )
    VERIFIER.bind(servicer.keys)
    # Rotation, pruning and re-publishing run for the life of the process.
    deps.extras["key_maintenance"] = asyncio.get_running_loop().create_task(
        servicer.keys.run(deps.clock)
    )
    return [servicer]


if __name__ == "__main__":
    run(
        "auth",
        build,
        default_port=DEFAULT_PORT,
        migrations=MIGRATIONS,
        needs_db=True,
        needs_redis=True,
        verifier=VERIFIER,
    )
