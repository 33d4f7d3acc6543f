"""Refresh-token families: rotation, reuse detection, revocation, expiry."""

from __future__ import annotations

import itertools

import pytest

from mesh.identity.errors import (
    RefreshTokenExpired,
    RefreshTokenReused,
    RefreshTokenRevoked,
    TokenInvalid,
)
from mesh.identity.tokens import (
    InMemoryRefreshTokenStore,
    RefreshStatus,
    RefreshTokenFamily,
    hash_refresh_token,
)

T0 = 1_750_000_000.0


@pytest.fixture
def store() -> InMemoryRefreshTokenStore:
    return InMemoryRefreshTokenStore()


@pytest.fixture
def family(store: InMemoryRefreshTokenStore) -> RefreshTokenFamily:
    counter = itertools.count()
    return RefreshTokenFamily(
        store,
        token_ttl=3600,
        family_ttl=10_000,
        token_factory=lambda: f"tok-{next(counter)}",
    )


async def test_only_hashes_are_stored(
    store: InMemoryRefreshTokenStore, family: RefreshTokenFamily
) -> None:
    issued = await family.start("u-1", "s-1", T0)
    assert issued.token not in store.tokens
    assert hash_refresh_token(issued.token) in store.tokens
    assert all(len(h) == 64 for h in store.tokens)


async def test_use_rotates(store: InMemoryRefreshTokenStore, family: RefreshTokenFamily) -> None:
    first = await family.start("u-1", "s-1", T0)
    second = await family.use(first.token, T0 + 10)
    assert second.token != first.token
    assert second.family.subject == "u-1" and second.family.session_id == "s-1"
    old = store.tokens[hash_refresh_token(first.token)]
    assert old.status is RefreshStatus.ROTATED
    assert old.replaced_by == hash_refresh_token(second.token)
    third = await family.use(second.token, T0 + 20)
    assert third.record.family_id == first.record.family_id


async def test_reuse_revokes_the_whole_family(
    store: InMemoryRefreshTokenStore, family: RefreshTokenFamily
) -> None:
    first = await family.start("u-1", "s-1", T0)
    second = await family.use(first.token, T0 + 10)
    with pytest.raises(RefreshTokenReused):
        await family.use(first.token, T0 + 20)  # the attacker (or victim) replays
    # The legitimate latest token is dead too.
    with pytest.raises(RefreshTokenRevoked):
        await family.use(second.token, T0 + 30)
    fam = store.families[first.record.family_id]
    assert fam.revoked_at == T0 + 20 and fam.revoke_reason == "reuse"


async def test_other_families_survive_a_reuse(family: RefreshTokenFamily) -> None:
    a = await family.start("u-1", "s-1", T0)
    b = await family.start("u-1", "s-2", T0)
    await family.use(a.token, T0 + 1)
    with pytest.raises(RefreshTokenReused):
        await family.use(a.token, T0 + 2)
    assert (await family.use(b.token, T0 + 3)).family.session_id == "s-2"


async def test_lost_race_counts_as_reuse(
    store: InMemoryRefreshTokenStore, family: RefreshTokenFamily
) -> None:
    first = await family.start("u-1", "s-1", T0)
    original_rotate = store.rotate

    async def racing_rotate(old_hash, new, now):  # type: ignore[no-untyped-def]
        # Another replica rotates the same token between our read and our write.
        await original_rotate(old_hash, new.__class__(**{**_fields(new), "token_hash": "x"}), now)
        return await original_rotate(old_hash, new, now)

    store.rotate = racing_rotate  # type: ignore[method-assign]
    with pytest.raises(RefreshTokenReused):
        await family.use(first.token, T0 + 1)
    assert store.families[first.record.family_id].revoked_at is not None


def _fields(record: object) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]


async def test_logout_revokes(family: RefreshTokenFamily) -> None:
    first = await family.start("u-1", "s-1", T0)
    await family.revoke(first.token, T0 + 5)
    with pytest.raises(RefreshTokenRevoked):
        await family.use(first.token, T0 + 6)


async def test_expiry_of_token_and_family(family: RefreshTokenFamily) -> None:
    first = await family.start("u-1", "s-1", T0)
    with pytest.raises(RefreshTokenExpired):
        await family.use(first.token, T0 + 3600)
    # Rotating keeps a family alive only up to its absolute lifetime.
    tok = (await family.start("u-1", "s-2", T0)).token
    now = T0
    for _ in range(3):
        now += 3000
        tok = (await family.use(tok, now)).token  # 3000, 6000, 9000
    last = await family.use(tok, now + 900)  # 9900: token capped at family expiry 10000
    assert last.record.expires_at == T0 + 10_000
    with pytest.raises(RefreshTokenExpired):
        await family.use(last.token, T0 + 10_000)


async def test_unknown_token_is_invalid(family: RefreshTokenFamily) -> None:
    with pytest.raises(TokenInvalid):
        await family.use("never-issued", T0)
