"""RelationshipService through a real grpc.aio server and a real PostgreSQL (and Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from grpc import aio
from lilo.relationships.v1 import relationships_service_pb2 as pb
from lilo.relationships.v1 import relationships_service_pb2_grpc as pb_grpc

from mesh.cache import CacheConfig, TwoTierCache
from mesh.testing import TestIdentity, serve
from services.relationships.servicer import RelationshipServicer
from services.relationships.store import RelationshipStore

FAMILY, PROVIDER, CAREGIVER = 1, 2, 3
FULL, LIMITED, EMERGENCY = 1, 2, 3


@asynccontextmanager
async def running(
    pool: asyncpg.Pool, access: Any = None, cache: TwoTierCache | None = None
) -> AsyncIterator[pb_grpc.RelationshipServiceStub]:
    servicer = RelationshipServicer(RelationshipStore(pool), cache=cache)
    async with (
        serve([servicer], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield pb_grpc.RelationshipServiceStub(channel)


async def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details() or ""


def create(
    resident: str = "res-1", user: str = "fam-1", kind: int = FAMILY, level: int = FULL
) -> pb.CreateRelationshipRequest:
    return pb.CreateRelationshipRequest(
        resident_id=resident, related_user_id=user, kind=kind, consent_level=level
    )


async def test_lifecycle_with_tombstone_and_recreate(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        made = (await stub.CreateRelationship(create())).relationship
        assert made.relationship_id and made.kind == FAMILY and made.consent_level == FULL
        assert not made.HasField("deleted_at")

        code, details = await code_of(stub.CreateRelationship(create(kind=CAREGIVER)))
        assert code is grpc.StatusCode.ALREADY_EXISTS and "fam-1" in details

        changed = (
            await stub.UpdateConsentLevel(
                pb.UpdateConsentLevelRequest(
                    relationship_id=made.relationship_id, consent_level=LIMITED, reason="asked"
                )
            )
        ).relationship
        assert changed.consent_level == LIMITED
        again = (
            await stub.UpdateConsentLevel(
                pb.UpdateConsentLevelRequest(
                    relationship_id=made.relationship_id, consent_level=LIMITED
                )
            )
        ).relationship
        assert again.updated_at == changed.updated_at  # same level: nothing changed

        ended = (
            await stub.DeleteRelationship(
                pb.DeleteRelationshipRequest(relationship_id=made.relationship_id, reason="moved")
            )
        ).relationship
        assert ended.HasField("deleted_at")
        twice = (
            await stub.DeleteRelationship(
                pb.DeleteRelationshipRequest(relationship_id=made.relationship_id)
            )
        ).relationship
        assert twice.deleted_at == ended.deleted_at  # idempotent: first tombstone kept

        got = (
            await stub.GetRelationship(
                pb.GetRelationshipRequest(relationship_id=made.relationship_id)
            )
        ).relationship
        assert got.HasField("deleted_at")  # tombstones stay readable

        code, details = await code_of(
            stub.UpdateConsentLevel(
                pb.UpdateConsentLevelRequest(
                    relationship_id=made.relationship_id, consent_level=FULL
                )
            )
        )
        assert code is grpc.StatusCode.FAILED_PRECONDITION

        # The pair may be related again once the old relationship ended.
        renewed = (await stub.CreateRelationship(create(kind=CAREGIVER))).relationship
        assert renewed.relationship_id != made.relationship_id

        active = await stub.ListRelationships(pb.ListRelationshipsRequest(resident_id="res-1"))
        assert [r.relationship_id for r in active.relationships] == [renewed.relationship_id]
        everything = await stub.ListRelationships(
            pb.ListRelationshipsRequest(resident_id="res-1", include_deleted=True)
        )
        assert [r.relationship_id for r in everything.relationships] == [
            made.relationship_id,
            renewed.relationship_id,
        ]

    trail = await RelationshipStore(pool).changes(made.relationship_id)
    assert [(t["change"], t["reason"]) for t in trail] == [
        ("created", ""),
        ("consent_level", "asked"),
        ("deleted", "moved"),
    ]


async def test_list_pages_and_filters(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        ids = []
        for i in range(5):
            kind = PROVIDER if i % 2 else FAMILY
            ids.append(
                (
                    await stub.CreateRelationship(create(user=f"u{i}", kind=kind))
                ).relationship.relationship_id
            )
        seen: list[str] = []
        token = ""
        while True:
            page = await stub.ListRelationships(
                pb.ListRelationshipsRequest(resident_id="res-1", page_size=2, page_token=token)
            )
            assert len(page.relationships) <= 2
            seen += [r.relationship_id for r in page.relationships]
            token = page.next_page_token
            if not token:
                break
        assert seen == ids
        providers = await stub.ListRelationships(
            pb.ListRelationshipsRequest(resident_id="res-1", kinds=[PROVIDER])
        )
        assert [r.related_user_id for r in providers.relationships] == ["u1", "u3"]
        by_user = await stub.ListRelationships(pb.ListRelationshipsRequest(related_user_id="u2"))
        assert [r.resident_id for r in by_user.relationships] == ["res-1"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (create(resident=""), "resident_id"),
        (create(kind=0), "kind"),
        (create(level=0), "consent_level"),
        (create(user="res-1"), "related_user_id"),
    ],
)
async def test_create_bad_input(
    pool: asyncpg.Pool, request_: pb.CreateRelationshipRequest, field: str
) -> None:
    async with running(pool) as stub:
        code, details = await code_of(stub.CreateRelationship(request_))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert field in details


async def test_other_bad_input(pool: asyncpg.Pool) -> None:
    async with running(pool) as stub:
        code, details = await code_of(stub.ListRelationships(pb.ListRelationshipsRequest()))
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "resident_id" in details
        code, details = await code_of(
            stub.ListRelationships(pb.ListRelationshipsRequest(resident_id="r", page_token="%%%"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "page_token" in details
        code, details = await code_of(stub.GetRelationship(pb.GetRelationshipRequest()))
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "relationship_id" in details
        code, _ = await code_of(
            stub.GetRelationship(pb.GetRelationshipRequest(relationship_id="nope"))
        )
        assert code is grpc.StatusCode.NOT_FOUND
        code, details = await code_of(
            stub.CheckRelationship(pb.CheckRelationshipRequest(resident_id="r"))
        )
        assert code is grpc.StatusCode.INVALID_ARGUMENT and "user_id" in details


async def test_check_relationship_is_cached_and_invalidated(
    pool: asyncpg.Pool, redis_db_url: str
) -> None:
    client = aioredis.Redis.from_url(redis_db_url)
    cache = TwoTierCache(client, CacheConfig(name="relationships"))
    other = TwoTierCache(client, CacheConfig(name="relationships"))  # a second instance
    await cache.start()
    await other.start()
    try:
        async with running(pool, cache=cache) as stub, running(pool, cache=other) as stub2:
            check = pb.CheckRelationshipRequest(user_id="fam-1", resident_id="res-1")
            assert (await stub.CheckRelationship(check)).related is False
            assert (await stub2.CheckRelationship(check)).related is False  # cached on both

            applied = other.expect_invalidation("check|5|fam-1|res-1")
            made = (await stub.CreateRelationship(create(level=LIMITED))).relationship
            await applied
            answer = await stub2.CheckRelationship(check)
            assert answer.related is True
            assert answer.relationship_id == made.relationship_id
            assert answer.consent_level == LIMITED

            applied = other.expect_invalidation("check|5|fam-1|res-1")
            await stub.DeleteRelationship(
                pb.DeleteRelationshipRequest(relationship_id=made.relationship_id)
            )
            await applied
            assert (await stub2.CheckRelationship(check)).related is False
    finally:
        await cache.close()
        await other.close()
        await client.aclose()


async def test_permissions_through_real_access_controller(pool: asyncpg.Pool) -> None:
    identity = TestIdentity()
    admin = identity.bearer("admin", subject="admin-1")
    family: Callable[..., list[tuple[str, str]]] = lambda: identity.bearer(  # noqa: E731
        "family_member", subject="fam-1", relations=[("res-1", "family", "full")]
    )
    async with running(pool, access=identity.access) as stub:
        own = (await stub.CreateRelationship(create("res-1", "fam-1"), metadata=admin)).relationship
        other = (
            await stub.CreateRelationship(create("res-2", "fam-9"), metadata=admin)
        ).relationship
        assert own.created_by == "admin-1"

        # A family member may not create relationships at all.
        code, details = await code_of(
            stub.CreateRelationship(create("res-1", "fam-2"), metadata=family())
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED and "no_permission" in details
        # ... nor change consent.
        code, _ = await code_of(
            stub.UpdateConsentLevel(
                pb.UpdateConsentLevelRequest(
                    relationship_id=own.relationship_id, consent_level=LIMITED
                ),
                metadata=family(),
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED

        # Reads: their own resident's relationships, not another resident's (NOT_FOUND).
        got = await stub.GetRelationship(
            pb.GetRelationshipRequest(relationship_id=own.relationship_id), metadata=family()
        )
        assert got.relationship.resident_id == "res-1"
        code, _ = await code_of(
            stub.GetRelationship(
                pb.GetRelationshipRequest(relationship_id=other.relationship_id), metadata=family()
            )
        )
        assert code is grpc.StatusCode.NOT_FOUND
        listed = await stub.ListRelationships(
            pb.ListRelationshipsRequest(resident_id="res-1"), metadata=family()
        )
        assert [r.relationship_id for r in listed.relationships] == [own.relationship_id]
        code, _ = await code_of(
            stub.ListRelationships(
                pb.ListRelationshipsRequest(resident_id="res-2"), metadata=family()
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED  # named resident: denied by the mesh

        code, _ = await code_of(
            stub.GetRelationship(pb.GetRelationshipRequest(relationship_id=own.relationship_id))
        )
        assert code is grpc.StatusCode.UNAUTHENTICATED
