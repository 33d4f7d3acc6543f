"""The demo seed: idempotent, and every documented demo sign-in works."""

from __future__ import annotations

import grpc
import pytest
from lilo.auth.v1 import auth_service_pb2 as pb

from mesh.identity import totp
from mesh.identity.principal import ConsentLevel, Relationship, Role
from services.auth.seed import DEMO_PASSWORD, DEMO_USERS, DemoUser, demo_user_id, seed_demo

from .conftest import BOX, CHEAP, AuthStack, rpc_error

RESIDENT = demo_user_id("resident@demo")


async def test_seed_is_idempotent_and_complete(stack: AuthStack) -> None:
    for _ in range(2):
        users = await seed_demo(stack.pool, box=BOX, passwords=CHEAP)
    assert {u.role for u in users} == set(Role)
    assert await stack.pool.fetchval("SELECT count(*) FROM auth.users") == len(Role)
    rels = await stack.pool.fetch(
        "SELECT u.username, r.patient_id, r.relationship, r.consent_level"
        " FROM auth.patient_relations r JOIN auth.users u ON u.id = r.user_id ORDER BY 1"
    )
    assert [tuple(r) for r in rels] == [
        ("family@demo", RESIDENT, "family", "full"),
        ("provider@demo", RESIDENT, "provider", "full"),
        ("staff@demo", RESIDENT, "caregiver", "full"),
    ]


@pytest.mark.parametrize("demo", DEMO_USERS, ids=lambda d: d.username)
async def test_every_demo_user_can_sign_in(stack: AuthStack, demo: DemoUser) -> None:
    await seed_demo(stack.pool, box=BOX, passwords=CHEAP)
    resp = await stack.stub.Login(pb.LoginRequest(username=demo.username, password=DEMO_PASSWORD))
    if demo.totp_secret is None:
        tokens = resp.tokens
    else:
        assert resp.WhichOneof("result") == "mfa_challenge"
        code = totp.code_at(demo.totp_secret, totp.step_at(stack.clock.wall()))
        tokens = (
            await stack.stub.VerifyMfa(
                pb.VerifyMfaRequest(challenge_token=resp.mfa_challenge.challenge_token, code=code)
            )
        ).tokens
    assert not tokens.mfa_enrollment_required
    principal = stack.servicer.keys.keyset.verify(tokens.access_token, stack.clock.wall())
    assert principal.subject == demo.user_id and principal.role is demo.role
    if demo.username == "family@demo":
        assert principal.relations[0].relationship is Relationship.FAMILY
        assert principal.relations[0].consent_level is ConsentLevel.FULL


async def test_demo_password_is_required(stack: AuthStack) -> None:
    await seed_demo(stack.pool, box=BOX, passwords=CHEAP)
    err = await rpc_error(
        stack.stub.Login(pb.LoginRequest(username="resident@demo", password="wrong password!"))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
