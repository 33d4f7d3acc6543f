"""The PostgreSQL refresh-token store: the atomic compare-and-set the protocol demands."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from mesh.identity.errors import RefreshTokenReused, RefreshTokenRevoked
from mesh.identity.tokens import RefreshTokenFamily, RefreshTokenRecord, hash_refresh_token
from services.auth.store import PgRefreshTokenStore

NOW = 1_735_689_600.0


async def test_concurrent_rotation_of_one_token_has_one_winner(pool: asyncpg.Pool) -> None:
    store = PgRefreshTokenStore(pool)
    issued = await RefreshTokenFamily(store).start("u1", "s1", NOW)
    old = issued.record.token_hash
    news = [
        RefreshTokenRecord(
            token_hash=hash_refresh_token(f"next-{i}"),
            family_id=issued.family.family_id,
            issued_at=NOW + 1,
            expires_at=NOW + 100,
        )
        for i in range(5)
    ]
    results = await asyncio.gather(*(store.rotate(old, n, NOW + 1) for n in news))
    assert sorted(results) == [False, False, False, False, True]
    rows = await pool.fetch("SELECT status FROM auth.refresh_tokens ORDER BY status")
    assert [r["status"] for r in rows] == ["active", "rotated"]


async def test_family_over_postgres_detects_reuse_and_revokes(pool: asyncpg.Pool) -> None:
    store = PgRefreshTokenStore(pool)
    family = RefreshTokenFamily(store)
    first = await family.start("u1", "s1", NOW)
    second = await family.use(first.token, NOW + 1)
    with pytest.raises(RefreshTokenReused):
        await family.use(first.token, NOW + 2)
    with pytest.raises(RefreshTokenRevoked):
        await family.use(second.token, NOW + 3)
    stored = await store.get_family(first.family.family_id)
    assert stored is not None and stored.revoke_reason == "reuse"


async def test_revoke_session_and_subject(pool: asyncpg.Pool) -> None:
    store = PgRefreshTokenStore(pool)
    family = RefreshTokenFamily(store)
    await family.start("u1", "s1", NOW)
    await family.start("u1", "s2", NOW)
    await family.start("u2", "s3", NOW)
    assert await store.revoke_session("s1", NOW, "logout") == 1
    assert await store.revoke_subject("u1", NOW, "logout_all") == 1  # s2 only; s1 already
    live = await pool.fetch("SELECT session_id FROM auth.refresh_families WHERE revoked_at IS NULL")
    assert [r["session_id"] for r in live] == ["s3"]


async def test_two_instances_rotate_once_and_agree(pool: asyncpg.Pool, tmp_path: Path) -> None:
    from services.auth.keys import KeyManager
    from services.auth.logic import AuthConfig
    from services.auth.store import AuthStore

    from .conftest import BOX

    config = AuthConfig(key_rotation_interval=3600.0)
    a = KeyManager(AuthStore(pool), BOX, config, jwks_path=tmp_path / "a.json")
    b = KeyManager(AuthStore(pool), BOX, config, jwks_path=tmp_path / "b.json")
    await a.load(NOW)
    await b.load(NOW)
    assert a.keyset.current.kid == b.keyset.current.kid  # b adopted a's first key
    rotated = await asyncio.gather(a.tick(NOW + 3600), b.tick(NOW + 3600))
    assert sorted(rotated) == [False, True]
    assert a.keyset.current.kid == b.keyset.current.kid
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    assert await pool.fetchval("SELECT count(*) FROM auth.signing_keys") == 2
