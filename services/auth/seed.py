"""Demo data: one organisation, one user of every role, and their relations to the resident.

Idempotent: users that exist already (by username) are left as they are. Every demo user
has the password :data:`DEMO_PASSWORD`; users of MFA roles are enrolled with a fixed,
documented TOTP secret (:data:`DEMO_USERS`), so a demo sign-in works with any authenticator
app or ``python -m services.auth.seed --codes``. Never run this against production data.

``python -m services.auth.seed`` (with ``DATABASE_URL``) migrates, seeds and prints the
accounts and their current TOTP codes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from mesh.identity import totp
from mesh.identity.passwords import Passwords
from mesh.identity.principal import ConsentLevel, PatientRelation, Relationship, Role
from mesh.identity.rbac import requires_mfa
from services.auth.secretbox import SecretBox
from services.auth.store import AuthStore

__all__ = ["DEMO_ORG_ID", "DEMO_PASSWORD", "DEMO_USERS", "DemoUser", "demo_user_id", "seed_demo"]

DEMO_ORG_ID = "org-demo"
DEMO_ORG_NAME = "Lilo Demo Care Home"
DEMO_PASSWORD = "Lilo-Demo-Care-2025"


def demo_user_id(username: str) -> str:
    """Stable ids, so other services' demo data can name these users (and the resident)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://lilo.example/demo/{username}"))


def _demo_secret(username: str) -> str:
    # Fixed per user and derivable from the docs: base32 of SHA-1("lilo-demo-totp:<username>").
    digest = hashlib.sha1(f"lilo-demo-totp:{username}".encode()).digest()
    return base64.b32encode(digest).decode()


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: Role
    display_name: str
    user_id: str
    email: str
    #: Base32 TOTP secret for MFA roles; None for roles without MFA.
    totp_secret: str | None


def _demo(username: str, role: Role, display_name: str) -> DemoUser:
    return DemoUser(
        username=username,
        role=role,
        display_name=display_name,
        user_id=demo_user_id(username),
        email=f"{username.split('@')[0]}@demo.lilo.example",
        totp_secret=_demo_secret(username) if requires_mfa(role) else None,
    )


DEMO_USERS: tuple[DemoUser, ...] = (
    _demo("system@demo", Role.SYSTEM, "Platform Operator"),
    _demo("admin@demo", Role.ADMIN, "Avery Admin"),
    _demo("provider@demo", Role.HEALTH_PROVIDER, "Dr. Priya Provider"),
    _demo("staff@demo", Role.CARE_STAFF, "Sam Staff"),
    _demo("family@demo", Role.FAMILY_MEMBER, "Frankie Family"),
    _demo("resident@demo", Role.RESIDENT, "Rosa Resident"),
)
RESIDENT_ID = demo_user_id("resident@demo")

_RELATIONS: dict[str, PatientRelation] = {
    "provider@demo": PatientRelation(RESIDENT_ID, Relationship.PROVIDER, ConsentLevel.FULL),
    "staff@demo": PatientRelation(RESIDENT_ID, Relationship.CAREGIVER, ConsentLevel.FULL),
    "family@demo": PatientRelation(RESIDENT_ID, Relationship.FAMILY, ConsentLevel.FULL),
}


async def seed_demo(
    pool: asyncpg.Pool,
    *,
    box: SecretBox | None = None,
    passwords: Passwords | None = None,
    now: float | None = None,
) -> tuple[DemoUser, ...]:
    """Create the demo organisation, users and relations if missing; return the demo users.

    ``box`` must be the one the service uses (default: from ``LILO_AUTH_SECRET_KEY``), or the
    service cannot read the TOTP secrets.
    """
    box = box or SecretBox.from_env()
    passwords = passwords or Passwords()
    created_at = time.time() if now is None else now
    store = AuthStore(pool)
    await store.ensure_organization(DEMO_ORG_ID, DEMO_ORG_NAME)
    for demo in DEMO_USERS:
        existing = await store.user_by_id(demo.user_id)
        if existing is None:
            sealed = (
                box.seal(demo.totp_secret.encode(), f"mfa:{demo.user_id}")
                if demo.totp_secret
                else None
            )
            await store.create_user(
                user_id=demo.user_id,
                organization_id=DEMO_ORG_ID,
                username=demo.username,
                email=demo.email,
                display_name=demo.display_name,
                role=demo.role,
                password_hash=passwords.hash(DEMO_PASSWORD),
                relations=(),
                created_at=created_at,
                mfa_secret=sealed,
            )
        relation = _RELATIONS.get(demo.username)
        if relation is not None:
            await store.add_relation(demo.user_id, relation)
    return DEMO_USERS


def _print(users: tuple[DemoUser, ...]) -> None:
    now = time.time()
    print(f"Demo organisation {DEMO_ORG_ID}; password for every user: {DEMO_PASSWORD}")
    for u in users:
        code = totp.code_at(u.totp_secret, totp.step_at(now)) if u.totp_secret else "-"
        secret = u.totp_secret or "(no MFA)"
        print(f"  {u.username:15} {u.role.value:16} id={u.user_id} totp={secret} now={code}")


async def _main() -> None:
    from mesh.db import create_pool, database_url_from_env, migrate

    pool = await create_pool(database_url_from_env())
    try:
        if "--codes" not in sys.argv:
            await migrate(pool, "auth", Path(__file__).parent / "migrations")
            await seed_demo(pool)
        _print(DEMO_USERS)
    finally:
        await pool.close()


if __name__ == "__main__":
    if "--codes" in sys.argv and not os.environ.get("DATABASE_URL"):
        _print(DEMO_USERS)
    else:
        asyncio.run(_main())
