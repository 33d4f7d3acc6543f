"""Break-glass end to end: grant, use through the mesh's access check, audit, expiry, review."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc import aio
from lilo.emergency.v1 import emergency_service_pb2 as pb
from lilo.emergency.v1 import emergency_service_pb2_grpc as pb_grpc
from lilo.memory.v1 import memory_service_pb2 as memory_pb

from mesh import context
from mesh.access import Admission
from mesh.audit_sink import AUDIT_MIGRATIONS, PostgresAuditSink
from mesh.clock import FakeClock
from mesh.db import create_pool, migrate
from mesh.facts import PgAccessFacts
from mesh.identity.principal import Principal, Role
from mesh.identity.rbac import Decision, Reason, Scope
from mesh.policy import method_policy
from mesh.status import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from mesh.testing import TestIdentity, serve
from services.audit import store as audit_store
from services.audit.chain import verify_chain
from services.audit.logic import KeyRing
from services.audit.writer import AuditWriter
from services.emergency import logic
from services.emergency.servicer import EmergencyAccessServicer

ROOT = Path(__file__).resolve().parents[2]
KEYS = KeyRing("k1", {"k1": b"emergency-test-audit-key-0123456789abcdef"})
PHI_READ = method_policy("/lilo.memory.v1.MemoryService/ListMemories")
WHY = "resident collapsed in the garden, need medication list"


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
        self.ident = TestIdentity(facts=PgAccessFacts(pool, self.clock), clock=self.clock)
        self.writer = AuditWriter(pool, KEYS, clock=self.clock)
        self.sink = PostgresAuditSink(self.writer, clock=self.clock)
        self.servicer = EmergencyAccessServicer(pool, self.writer, clock=self.clock)
        self.stub: pb_grpc.EmergencyAccessServiceStub

    def provider(self, subject: str = "doc-1") -> list[tuple[str, str]]:
        return self.ident.bearer("health_provider", subject)

    async def read_phi(self, subject: str = "doc-1") -> Admission:
        """What the interceptor does for a PHI rpc: authorize, then audit before the handler."""
        assert PHI_READ is not None
        meta = dict(self.provider(subject))
        request = memory_pb.ListMemoriesRequest(user_id="pat-1")
        admission = await self.ident.access.authorize(PHI_READ, meta, None, request)
        await self.sink.record_call(PHI_READ, admission, request, allowed=True, reason="")
        return admission  # type: ignore[no-any-return]


@pytest.fixture
async def env(pool: asyncpg.Pool) -> AsyncIterator[Env]:
    e = Env(pool)
    async with (
        serve([e.servicer], access=e.ident.access, audit=e.sink) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        e.stub = pb_grpc.EmergencyAccessServiceStub(channel)
        yield e
    await e.sink.close()


def request(**kw: Any) -> pb.RequestEmergencyAccessRequest:
    fields: dict[str, Any] = {
        "patient_id": "pat-1",
        "justification": WHY,
        "emergency_type": pb.EMERGENCY_TYPE_MEDICAL,
    }
    fields.update(kw)
    return pb.RequestEmergencyAccessRequest(**fields)


@contextmanager
def acting_as(principal: Principal, scope: Scope) -> Iterator[None]:
    """Handler context as the interceptor would set it (for rpcs called directly)."""
    decision = Decision(allowed=True, reason=Reason.PERMITTED, scope=scope)
    token = context.current_call.set(
        context.CallContext(
            method="/x", admission=Admission(principal=principal, decision=decision)
        )
    )
    try:
        yield
    finally:
        context.current_call.reset(token)


async def test_break_glass_is_granted_used_audited_and_expires(env: Env) -> None:
    with pytest.raises(PermissionDenied):  # no relation to the patient, no grant
        await env.read_phi()

    resp = await env.stub.RequestEmergencyAccess(request(), metadata=env.provider())
    access = resp.access
    assert access.review_status == pb.REVIEW_STATUS_PENDING
    assert access.user_id == "doc-1"
    assert access.expires_at.seconds - access.granted_at.seconds == 3600

    admission = await env.read_phi()
    assert admission.decision.break_glass
    assert admission.decision.grant_ids == (access.access_id,)
    env.clock.advance(3599)
    await env.read_phi()
    env.clock.advance(1)  # expires by itself: nobody wrote anything
    with pytest.raises(PermissionDenied):
        await env.read_phi()

    rows = await env.pool.fetch(
        "SELECT event_type, break_glass, resident_id, additional_context->>'break_glass_grant_ids'"
        " AS grants FROM audit.events ORDER BY partition, sequence"
    )
    assert sorted(
        (r["event_type"], r["break_glass"], r["resident_id"], r["grants"]) for r in rows
    ) == [
        # every use of the grant, by the mesh sink, flagged and naming the grant
        ("break_glass_access", True, "pat-1", access.access_id),
        ("break_glass_access", True, "pat-1", access.access_id),
        # the grant itself, by the emergency service
        ("emergency_access_granted", True, "pat-1", access.access_id),
        # RequestEmergencyAccess is a PHI rpc (no resident field): audited by the sink
        ("phi_access", False, "", None),
    ]
    events, head = await audit_store.read_partition(env.pool, "2025-01-01")
    assert verify_chain([e.record() for e in events], KEYS.keys, expected_head=head) == []


async def test_request_validation_and_roles(env: Env) -> None:
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.RequestEmergencyAccess(
            request(justification="help"), metadata=env.provider()
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "justification" in (err.value.details() or "")
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.RequestEmergencyAccess(
            request(),
            metadata=env.ident.bearer(
                "family_member", "fam-1", relations=[("pat-1", "family", "full")], mfa=False
            ),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    resp = await env.stub.RequestEmergencyAccess(
        request(requested_duration=Duration(seconds=600)), metadata=env.provider()
    )
    assert resp.access.expires_at.seconds - resp.access.granted_at.seconds == 600
    long = await env.stub.RequestEmergencyAccess(
        request(requested_duration=Duration(seconds=99_999)), metadata=env.provider()
    )
    assert long.access.expires_at.seconds - long.access.granted_at.seconds == 3600
    assert await env.pool.fetchval("SELECT count(*) FROM emergency.accesses") == 2


async def test_review_reject_ends_active_access_and_is_audited(env: Env) -> None:
    resp = await env.stub.RequestEmergencyAccess(request(), metadata=env.provider())
    await env.read_phi()
    admin = Principal.user("adm-1", Role.ADMIN, organization_id="org-1", mfa=True)
    with acting_as(admin, Scope.ALL):
        pending = await env.servicer.ListEmergencyAccess(
            pb.ListEmergencyAccessRequest(pending_review_only=True),
            None,  # type: ignore[arg-type]
        )
        assert [a.access_id for a in pending.accesses] == [resp.access.access_id]
        with pytest.raises(InvalidArgument, match="note"):
            await env.servicer.ReviewEmergencyAccess(
                pb.ReviewEmergencyAccessRequest(
                    access_id=resp.access.access_id, decision=pb.REVIEW_STATUS_REJECTED
                ),
                None,  # type: ignore[arg-type]
            )
        reviewed = await env.servicer.ReviewEmergencyAccess(
            pb.ReviewEmergencyAccessRequest(
                access_id=resp.access.access_id,
                decision=pb.REVIEW_STATUS_REJECTED,
                note="no emergency on record",
            ),
            None,  # type: ignore[arg-type]
        )
        with pytest.raises(FailedPrecondition):
            await env.servicer.ReviewEmergencyAccess(
                pb.ReviewEmergencyAccessRequest(
                    access_id=resp.access.access_id, decision=pb.REVIEW_STATUS_APPROVED, note="x"
                ),
                None,  # type: ignore[arg-type]
            )
        still_pending = await env.servicer.ListEmergencyAccess(
            pb.ListEmergencyAccessRequest(pending_review_only=True),
            None,  # type: ignore[arg-type]
        )
    assert reviewed.access.review_status == pb.REVIEW_STATUS_REJECTED
    assert reviewed.access.revoked_by == "adm-1" and reviewed.access.HasField("revoked_at")
    assert list(still_pending.accesses) == []
    with pytest.raises(PermissionDenied):  # rejection ended it at once
        await env.read_phi()
    reviewed_events = await env.pool.fetchval(
        "SELECT count(*) FROM audit.events WHERE event_type = 'emergency_access_reviewed'"
        " AND break_glass"
    )
    assert reviewed_events == 1


async def test_admin_reviews_through_the_real_access_controller(env: Env) -> None:
    resp = await env.stub.RequestEmergencyAccess(request(), metadata=env.provider())
    review = pb.ReviewEmergencyAccessRequest(
        access_id=resp.access.access_id, decision=pb.REVIEW_STATUS_APPROVED, note="justified"
    )
    with pytest.raises(aio.AioRpcError) as err:  # providers do not review
        await env.stub.ReviewEmergencyAccess(review, metadata=env.provider("doc-2"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    done = await env.stub.ReviewEmergencyAccess(review, metadata=env.ident.bearer("admin", "adm-1"))
    assert done.access.review_status == pb.REVIEW_STATUS_APPROVED
    assert not done.access.HasField("revoked_at")  # approval leaves it running
    await env.read_phi()


async def test_revoke_and_visibility(env: Env) -> None:
    resp = await env.stub.RequestEmergencyAccess(request(), metadata=env.provider())
    aid = resp.access.access_id
    other = Principal.user("doc-2", Role.HEALTH_PROVIDER, organization_id="org-1", mfa=True)
    with acting_as(other, Scope.OWN), pytest.raises(NotFound):
        await env.servicer.GetEmergencyAccess(pb.GetEmergencyAccessRequest(access_id=aid), None)  # type: ignore[arg-type]
    owner = Principal.user("doc-1", Role.HEALTH_PROVIDER, organization_id="org-1", mfa=True)
    with acting_as(owner, Scope.OWN):
        got = await env.servicer.GetEmergencyAccess(
            pb.GetEmergencyAccessRequest(access_id=aid), None
        )  # type: ignore[arg-type]
        assert got.access.justification == WHY
        ended = await env.servicer.RevokeEmergencyAccess(
            pb.RevokeEmergencyAccessRequest(access_id=aid, reason="patient stable"),
            None,  # type: ignore[arg-type]
        )
        again = await env.servicer.RevokeEmergencyAccess(
            pb.RevokeEmergencyAccessRequest(access_id=aid, reason="twice"),
            None,  # type: ignore[arg-type]
        )
    assert ended.access.revoke_reason == "patient stable"
    assert again.access == ended.access
    with pytest.raises(PermissionDenied):
        await env.read_phi()


async def test_grant_refused_when_audit_is_down(pool: asyncpg.Pool, fresh_database: str) -> None:
    e = Env(pool)
    dead = await create_pool(fresh_database)
    await dead.close()
    servicer = EmergencyAccessServicer(pool, AuditWriter(dead, KEYS, clock=e.clock), clock=e.clock)
    async with (
        serve([servicer], access=e.ident.access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.EmergencyAccessServiceStub(channel)
        with pytest.raises(aio.AioRpcError):
            await stub.RequestEmergencyAccess(request(), metadata=e.provider())
    assert await pool.fetchval("SELECT count(*) FROM emergency.accesses") == 0


def test_logic_rules() -> None:
    cfg = logic.EmergencyConfig(timedelta(minutes=30), 10)
    assert logic.validate_request(
        patient_id="p",
        justification=" " * 3 + "x" * 10,
        emergency_type=2,
        requested=None,
        config=cfg,
    ) == ("mental_health_crisis", timedelta(minutes=30))
    for kw, field in (
        ({"patient_id": ""}, "patient_id"),
        ({"justification": "   "}, "justification"),
        ({"emergency_type": 0}, "emergency_type"),
        ({"requested": timedelta(0)}, "requested_duration"),
    ):
        args: dict[str, Any] = {
            "patient_id": "p",
            "justification": "x" * 10,
            "emergency_type": 1,
            "requested": None,
            "config": cfg,
        }
        args.update(kw)
        with pytest.raises(InvalidArgument, match=field):
            logic.validate_request(**args)
    assert logic.config_from_env({"LILO_EMERGENCY_MAX_SECONDS": "900"}).max_duration == timedelta(
        seconds=900
    )
