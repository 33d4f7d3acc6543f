"""asyncpg adapter for schema ``auth`` (SQL only). Times are epoch seconds in Python and
``timestamptz`` in the database.

``DuplicateError`` (field name in ``field``) is raised when a unique username/e-mail is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from mesh.identity.principal import PatientRelation, Role
from mesh.identity.tokens import RefreshFamilyRecord, RefreshStatus, RefreshTokenRecord

__all__ = [
    "AuthStore",
    "DuplicateError",
    "KeyRow",
    "PgRefreshTokenStore",
    "UserRow",
]


def ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def epoch(value: datetime) -> float:
    return value.timestamp()


class DuplicateError(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} already taken")
        self.field = field


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    organization_id: str
    username: str
    email: str
    display_name: str
    role: Role
    password_hash: str
    mfa_secret: bytes | None
    mfa_enrolled: bool
    mfa_last_step: int | None
    disabled: bool
    created_at: float
    relations: tuple[PatientRelation, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    private_key: bytes
    created_at: float
    retired_at: float | None
    verify_until: float | None


_USER_COLUMNS = """id, organization_id, username, email, display_name, role, password_hash,
    mfa_secret, mfa_enrolled, mfa_last_step, disabled, created_at"""


class AuthStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- organisations and users -----------------------------------------------------

    async def ensure_organization(self, org_id: str, name: str) -> None:
        await self.pool.execute(
            "INSERT INTO auth.organizations (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            org_id,
            name,
        )

    async def organization_exists(self, org_id: str) -> bool:
        row = await self.pool.fetchval("SELECT 1 FROM auth.organizations WHERE id = $1", org_id)
        return row is not None

    async def _relations(
        self, conn: asyncpg.Connection, user_id: str
    ) -> tuple[PatientRelation, ...]:
        rows = await conn.fetch(
            """SELECT patient_id, relationship, consent_level FROM auth.patient_relations
               WHERE user_id = $1 ORDER BY patient_id, relationship""",
            user_id,
        )
        return tuple(
            PatientRelation(r["patient_id"], r["relationship"], r["consent_level"]) for r in rows
        )

    async def _user(self, conn: asyncpg.Connection, row: asyncpg.Record | None) -> UserRow | None:
        if row is None:
            return None
        return UserRow(
            id=row["id"],
            organization_id=row["organization_id"],
            username=row["username"],
            email=row["email"],
            display_name=row["display_name"],
            role=Role(row["role"]),
            password_hash=row["password_hash"],
            mfa_secret=row["mfa_secret"],
            mfa_enrolled=row["mfa_enrolled"],
            mfa_last_step=row["mfa_last_step"],
            disabled=row["disabled"],
            created_at=epoch(row["created_at"]),
            relations=await self._relations(conn, row["id"]),
        )

    async def user_by_login(self, login: str) -> UserRow | None:
        """The user whose username or e-mail is ``login`` (already normalised)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM auth.users WHERE username = $1 OR email = $1"
                " ORDER BY (username = $1) DESC LIMIT 1",
                login,
            )
            return await self._user(conn, row)

    async def user_by_id(self, user_id: str) -> UserRow | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM auth.users WHERE id = $1", user_id
            )
            return await self._user(conn, row)

    async def create_user(
        self,
        *,
        user_id: str,
        organization_id: str,
        username: str,
        email: str,
        display_name: str,
        role: Role,
        password_hash: str,
        relations: Sequence[PatientRelation],
        created_at: float,
        mfa_secret: bytes | None = None,
    ) -> UserRow:
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    """INSERT INTO auth.users (id, organization_id, username, email, display_name,
                           role, password_hash, mfa_secret, mfa_enrolled, created_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
                    user_id,
                    organization_id,
                    username,
                    email,
                    display_name,
                    role.value,
                    password_hash,
                    mfa_secret,
                    mfa_secret is not None,
                    ts(created_at),
                )
            except asyncpg.UniqueViolationError as exc:
                field = "email" if "email" in (exc.constraint_name or "") else "username"
                raise DuplicateError(field) from None
            await conn.executemany(
                """INSERT INTO auth.patient_relations (user_id, patient_id, relationship,
                       consent_level) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                [
                    (user_id, r.patient_id, r.relationship.value, r.consent_level.value)
                    for r in relations
                ],
            )
            row = await conn.fetchrow(
                f"SELECT {_USER_COLUMNS} FROM auth.users WHERE id = $1", user_id
            )
            user = await self._user(conn, row)
            assert user is not None
            return user

    async def add_relation(self, user_id: str, relation: PatientRelation) -> None:
        await self.pool.execute(
            """INSERT INTO auth.patient_relations (user_id, patient_id, relationship, consent_level)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            user_id,
            relation.patient_id,
            relation.relationship.value,
            relation.consent_level.value,
        )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.pool.execute(
            "UPDATE auth.users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    async def enable_mfa(self, user_id: str, sealed_secret: bytes, step: int) -> None:
        """Activate a confirmed TOTP secret; ``step`` (the confirming code's) counts as used."""
        await self.pool.execute(
            """UPDATE auth.users SET mfa_secret = $2, mfa_enrolled = true, mfa_last_step = $3
               WHERE id = $1""",
            user_id,
            sealed_secret,
            step,
        )

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record ``step`` as used iff it is later than the last one (atomic compare-and-set).

        False means another call used this or a later step first: the code is a replay.
        """
        result = await self.pool.execute(
            """UPDATE auth.users SET mfa_last_step = $2
               WHERE id = $1 AND (mfa_last_step IS NULL OR mfa_last_step < $2)""",
            user_id,
            step,
        )
        return str(result).endswith(" 1")

    # --- signing keys ----------------------------------------------------------------

    async def signing_keys(self) -> list[KeyRow]:
        rows = await self.pool.fetch(
            """SELECT kid, private_key, created_at, retired_at, verify_until
               FROM auth.signing_keys ORDER BY created_at, kid"""
        )
        return [
            KeyRow(
                kid=r["kid"],
                private_key=r["private_key"],
                created_at=epoch(r["created_at"]),
                retired_at=epoch(r["retired_at"]) if r["retired_at"] else None,
                verify_until=epoch(r["verify_until"]) if r["verify_until"] else None,
            )
            for r in rows
        ]

    async def insert_first_key(self, kid: str, sealed: bytes, created_at: float) -> bool:
        """Insert a current key if there is none; False if another instance won."""
        result = await self.pool.execute(
            """INSERT INTO auth.signing_keys (kid, private_key, created_at)
               SELECT $1, $2, $3
               WHERE NOT EXISTS (SELECT 1 FROM auth.signing_keys WHERE retired_at IS NULL)
               ON CONFLICT DO NOTHING""",
            kid,
            sealed,
            ts(created_at),
        )
        return str(result).endswith(" 1")

    async def rotate_key(
        self, old_kid: str, new_kid: str, sealed: bytes, now: float, verify_until: float
    ) -> bool:
        """Retire ``old_kid`` (if still current) and make ``new_kid`` current, atomically."""
        async with self.pool.acquire() as conn, conn.transaction():
            result = await conn.execute(
                """UPDATE auth.signing_keys SET retired_at = $2, verify_until = $3
                   WHERE kid = $1 AND retired_at IS NULL""",
                old_kid,
                ts(now),
                ts(verify_until),
            )
            if not str(result).endswith(" 1"):
                return False
            await conn.execute(
                """INSERT INTO auth.signing_keys (kid, private_key, created_at)
                   VALUES ($1, $2, $3)""",
                new_kid,
                sealed,
                ts(now),
            )
            return True

    async def delete_expired_keys(self, now: float) -> int:
        result = await self.pool.execute(
            "DELETE FROM auth.signing_keys WHERE verify_until IS NOT NULL AND verify_until <= $1",
            ts(now),
        )
        return int(str(result).rsplit(" ", 1)[-1])


class PgRefreshTokenStore:
    """``mesh.identity.tokens.RefreshTokenStore`` in PostgreSQL (hashes only)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create_family(self, family: RefreshFamilyRecord, first: RefreshTokenRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO auth.refresh_families (family_id, subject, session_id, created_at,
                       expires_at) VALUES ($1, $2, $3, $4, $5)""",
                family.family_id,
                family.subject,
                family.session_id,
                ts(family.created_at),
                ts(family.expires_at),
            )
            await self._insert_token(conn, first)

    @staticmethod
    async def _insert_token(conn: asyncpg.Connection, record: RefreshTokenRecord) -> None:
        await conn.execute(
            """INSERT INTO auth.refresh_tokens (token_hash, family_id, issued_at, expires_at,
                   status, replaced_by) VALUES ($1, $2, $3, $4, $5, $6)""",
            record.token_hash,
            record.family_id,
            ts(record.issued_at),
            ts(record.expires_at),
            record.status.value,
            record.replaced_by,
        )

    async def get_token(self, token_hash: str) -> RefreshTokenRecord | None:
        r = await self.pool.fetchrow(
            """SELECT token_hash, family_id, issued_at, expires_at, status, replaced_by
               FROM auth.refresh_tokens WHERE token_hash = $1""",
            token_hash,
        )
        if r is None:
            return None
        return RefreshTokenRecord(
            token_hash=r["token_hash"],
            family_id=r["family_id"],
            issued_at=epoch(r["issued_at"]),
            expires_at=epoch(r["expires_at"]),
            status=RefreshStatus(r["status"]),
            replaced_by=r["replaced_by"],
        )

    async def get_family(self, family_id: str) -> RefreshFamilyRecord | None:
        r = await self.pool.fetchrow(
            """SELECT family_id, subject, session_id, created_at, expires_at, revoked_at,
                      revoke_reason FROM auth.refresh_families WHERE family_id = $1""",
            family_id,
        )
        if r is None:
            return None
        return RefreshFamilyRecord(
            family_id=r["family_id"],
            subject=r["subject"],
            session_id=r["session_id"],
            created_at=epoch(r["created_at"]),
            expires_at=epoch(r["expires_at"]),
            revoked_at=epoch(r["revoked_at"]) if r["revoked_at"] else None,
            revoke_reason=r["revoke_reason"],
        )

    async def rotate(self, old_hash: str, new: RefreshTokenRecord, now: float) -> bool:
        # The conditional UPDATE takes the row lock; a concurrent rotate of the same token
        # waits, re-checks ``status = 'active'`` after we commit, and updates nothing.
        async with self.pool.acquire() as conn, conn.transaction():
            result = await conn.execute(
                """UPDATE auth.refresh_tokens SET status = 'rotated', replaced_by = $2
                   WHERE token_hash = $1 AND status = 'active'""",
                old_hash,
                new.token_hash,
            )
            if not str(result).endswith(" 1"):
                return False
            await self._insert_token(conn, new)
            return True

    async def revoke_family(self, family_id: str, now: float, reason: str) -> None:
        await self.pool.execute(
            """UPDATE auth.refresh_families SET revoked_at = $2, revoke_reason = $3
               WHERE family_id = $1 AND revoked_at IS NULL""",
            family_id,
            ts(now),
            reason,
        )

    async def revoke_session(self, session_id: str, now: float, reason: str) -> int:
        """Revoke every live family of one session; return how many."""
        result = await self.pool.execute(
            """UPDATE auth.refresh_families SET revoked_at = $2, revoke_reason = $3
               WHERE session_id = $1 AND revoked_at IS NULL""",
            session_id,
            ts(now),
            reason,
        )
        return int(str(result).rsplit(" ", 1)[-1])

    async def revoke_subject(self, subject: str, now: float, reason: str) -> int:
        """Revoke every live family of a user (logout everywhere)."""
        result = await self.pool.execute(
            """UPDATE auth.refresh_families SET revoked_at = $2, revoke_reason = $3
               WHERE subject = $1 AND revoked_at IS NULL""",
            subject,
            ts(now),
            reason,
        )
        return int(str(result).rsplit(" ", 1)[-1])
