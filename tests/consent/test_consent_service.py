"""ConsentService end to end on real PostgreSQL and the real access controller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.consent.v1 import consent_service_pb2 as pb
from lilo.consent.v1 import consent_service_pb2_grpc as pb_grpc
from lilo.memory.v1 import memory_service_pb2 as memory_pb

from mesh.audit_sink import AUDIT_MIGRATIONS, PostgresAuditSink
from mesh.clock import FakeClock
from mesh.db import create_pool, migrate
from mesh.facts import PgAccessFacts
from mesh.policy import method_policy
from mesh.status import PermissionDenied
from mesh.testing import TestIdentity, serve
from services.audit.logic import KeyRing
from services.audit.writer import AuditWriter
from services.consent.servicer import ConsentServicer

ROOT = Path(__file__).resolve().parents[2]
KEYS = KeyRing("k1", {"k1": b"consent-test-audit-key-0123456789abcdef"})
LIST_MEMORIES = method_policy("/lilo.memory.v1.MemoryService/ListMemories")
FAMILY = [("res-1", "family", "full")]


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(fresh_database)
    await migrate(p, "consent", ROOT / "services/consent/migrations")
    await migrate(p, "emergency_access", ROOT / "services/emergency/migrations")
    await migrate(p, "audit", AUDIT_MIGRATIONS)
    yield p
    await p.close()


class Env:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.clock = FakeClock()
        self.facts = PgAccessFacts(pool, self.clock)
        self.ident = TestIdentity(facts=self.facts, clock=self.clock)
        self.sink = PostgresAuditSink(AuditWriter(pool, KEYS, clock=self.clock), clock=self.clock)
        self.stub: pb_grpc.ConsentServiceStub

    def resident(self, subject: str = "res-1") -> list[tuple[str, str]]:
        return self.ident.bearer("resident", subject, mfa=False)

    async def may_read_memories(self, subject: str = "fam-1") -> bool:
        """The mesh's decision for a consent-scoped PHI rpc, exactly as the interceptor asks."""
        meta = dict(self.ident.bearer("family_member", subject, relations=FAMILY, mfa=False))
        assert LIST_MEMORIES is not None
        try:
            await self.ident.access.authorize(
                LIST_MEMORIES, meta, None, memory_pb.ListMemoriesRequest(user_id="res-1")
            )
        except PermissionDenied:
            return False
        return True


@pytest.fixture
async def env(pool: asyncpg.Pool) -> AsyncIterator[Env]:
    e = Env(pool)
    servicer = ConsentServicer(pool, e.clock)
    async with (
        serve([servicer], access=e.ident.access, audit=e.sink) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        e.stub = pb_grpc.ConsentServiceStub(channel)
        yield e
    await e.sink.close()


def grant_request(**kw: Any) -> pb.GrantConsentRequest:
    fields: dict[str, Any] = {
        "resident_id": "res-1",
        "grantee_id": "fam-1",
        "data_category": pb.DATA_CATEGORY_CONVERSATIONS,
        "purpose": "stay in touch",
    }
    fields.update(kw)
    return pb.GrantConsentRequest(**fields)


async def test_revocation_takes_effect_on_the_next_call(env: Env) -> None:
    assert not await env.may_read_memories()
    granted = await env.stub.GrantConsent(grant_request(), metadata=env.resident())
    assert granted.grant.status == pb.CONSENT_STATUS_ACTIVE
    assert granted.grant.grantor_kind == pb.GRANTOR_KIND_RESIDENT
    assert await env.may_read_memories()
    assert not await env.may_read_memories("fam-2")  # consent is per grantee

    revoked = await env.stub.RevokeConsent(
        pb.RevokeConsentRequest(
            resident_id="res-1", consent_id=granted.grant.consent_id, reason="changed my mind"
        ),
        metadata=env.resident(),
    )
    assert revoked.grant.status == pb.CONSENT_STATUS_REVOKED
    assert revoked.grant.revoked_by == "res-1"
    assert not await env.may_read_memories()  # no caching: the very next call is refused

    again = await env.stub.RevokeConsent(
        pb.RevokeConsentRequest(resident_id="res-1", consent_id=granted.grant.consent_id),
        metadata=env.resident(),
    )
    assert again.grant == revoked.grant  # idempotent


async def test_new_grant_supersedes_and_history_keeps_everything(env: Env) -> None:
    first = await env.stub.GrantConsent(grant_request(), metadata=env.resident())
    env.clock.advance(1)
    second = await env.stub.GrantConsent(
        grant_request(purpose="weekly calls"), metadata=env.resident()
    )
    listed = await env.stub.ListConsents(
        pb.ListConsentsRequest(resident_id="res-1"), metadata=env.resident()
    )
    assert [g.consent_id for g in listed.grants] == [second.grant.consent_id]
    everything = await env.stub.ListConsents(
        pb.ListConsentsRequest(resident_id="res-1", include_inactive=True, page_size=1),
        metadata=env.resident(),
    )
    assert len(everything.grants) == 1 and everything.next_page_token
    rest = await env.stub.ListConsents(
        pb.ListConsentsRequest(
            resident_id="res-1", include_inactive=True, page_token=everything.next_page_token
        ),
        metadata=env.resident(),
    )
    assert [g.status for g in rest.grants] == [pb.CONSENT_STATUS_SUPERSEDED]
    assert rest.grants[0].consent_id == first.grant.consent_id

    history = await env.stub.GetConsentHistory(
        pb.GetConsentHistoryRequest(resident_id="res-1"), metadata=env.resident()
    )
    assert [(e.change, e.grant.consent_id) for e in history.entries] == [
        (pb.CONSENT_CHANGE_GRANTED, first.grant.consent_id),
        (pb.CONSENT_CHANGE_SUPERSEDED, first.grant.consent_id),
        (pb.CONSENT_CHANGE_GRANTED, second.grant.consent_id),
    ]
    assert history.entries[1].grant.status == pb.CONSENT_STATUS_SUPERSEDED
    assert await env.pool.fetchval("SELECT count(*) FROM consent.grants") == 2
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await env.pool.execute("DELETE FROM consent.history")


async def test_expiry_by_the_clock(env: Env) -> None:
    expires = Timestamp(seconds=int(env.clock.wall()) + 60)
    await env.stub.GrantConsent(grant_request(expires_at=expires), metadata=env.resident())
    check = pb.CheckConsentRequest(
        resident_id="res-1", grantee_id="fam-1", data_category=pb.DATA_CATEGORY_CONVERSATIONS
    )
    # A provider assigned to the resident may check (RBAC consent.check, assigned scope).
    doctor = env.ident.bearer("health_provider", "doc-1", relations=[("res-1", "provider", "full")])
    assert (await env.stub.CheckConsent(check, metadata=doctor)).allowed
    assert await env.may_read_memories()
    env.clock.advance(61)
    assert not await env.may_read_memories()
    assert not (await env.stub.CheckConsent(check, metadata=doctor)).allowed
    history = await env.stub.GetConsentHistory(
        pb.GetConsentHistoryRequest(resident_id="res-1"), metadata=env.resident()
    )
    assert [(e.change, e.actor_id) for e in history.entries][-1] == (
        pb.CONSENT_CHANGE_EXPIRED,
        "system",
    )


async def test_check_consent(pool: asyncpg.Pool) -> None:
    """Handler logic directly (the rpc's 'check' action is outside the RBAC action set)."""
    e = Env(pool)
    servicer = ConsentServicer(pool, e.clock)
    async with (
        serve([servicer], access=e.ident.access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.ConsentServiceStub(channel)
        await stub.GrantConsent(grant_request(), metadata=e.resident())
    from datetime import UTC, datetime

    from services.consent import store

    now = datetime.fromtimestamp(e.clock.wall(), UTC)
    assert await store.active_grant(pool, "res-1", "fam-1", "conversations", now) is not None
    assert await store.active_grant(pool, "res-1", "fam-1", "phi", now) is None
    assert await store.active_grant(
        pool, "res-1", "fam-1", "conversations", now + timedelta(days=999)
    )


async def test_only_the_resident_or_a_guardian_grants(env: Env) -> None:
    with pytest.raises(aio.AioRpcError) as err:  # another resident: RBAC scope 'own'
        await env.stub.GrantConsent(grant_request(), metadata=env.resident("res-2"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:  # family: no consent.write in RBAC
        await env.stub.GrantConsent(
            grant_request(),
            metadata=env.ident.bearer("family_member", "fam-1", relations=FAMILY, mfa=False),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:  # admin passes RBAC, but it is not theirs
        await env.stub.GrantConsent(grant_request(), metadata=env.ident.bearer("admin", "adm-1"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.GrantConsent(grant_request(data_category=0), metadata=env.resident())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data_category" in (err.value.details() or "")
    assert await env.pool.fetchval("SELECT count(*) FROM consent.grants") == 0


async def test_grant_is_audited_before_it_happens(env: Env) -> None:
    await env.stub.GrantConsent(grant_request(), metadata=env.resident())
    row = await env.pool.fetchrow(
        "SELECT actor_user_id, resource, action, resident_id, phi_accessed, outcome"
        " FROM audit.events WHERE event_type = 'phi_access'"
    )
    assert dict(row) == {
        "actor_user_id": "res-1",
        "resource": "consent",
        "action": "write",
        "resident_id": "res-1",
        "phi_accessed": True,
        "outcome": "ALLOWED",
    }


async def test_audit_outage_refuses_the_phi_call(pool: asyncpg.Pool, fresh_database: str) -> None:
    e = Env(pool)
    dead = await create_pool(fresh_database)
    await dead.close()  # the audit database is gone
    sink = PostgresAuditSink(AuditWriter(dead, KEYS, clock=e.clock), clock=e.clock)
    async with (
        serve([ConsentServicer(pool, e.clock)], access=e.ident.access, audit=sink) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.ConsentServiceStub(channel)
        with pytest.raises(aio.AioRpcError) as err:
            await stub.GrantConsent(grant_request(), metadata=e.resident())
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await pool.fetchval("SELECT count(*) FROM consent.grants") == 0  # handler never ran
