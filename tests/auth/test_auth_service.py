"""AuthService end to end: real PostgreSQL and Redis, real gRPC, the real access controller."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from grpc import aio
from lilo.auth.v1 import auth_service_pb2 as pb
from lilo.auth.v1 import auth_service_pb2_grpc as pb_grpc
from lilo.echo.v1 import echo_service_pb2 as echo_pb
from lilo.echo.v1 import echo_service_pb2_grpc as echo_grpc

from mesh.access import TokenAccessController
from mesh.identity import totp
from mesh.identity.principal import ConsentLevel, PatientRelation, Relationship, Role
from mesh.runner import load_verifier
from mesh.testing import serve
from services.echo.servicer import EchoServicer

from .conftest import PASSWORD, AuthStack, bearer, make_servicer, rpc_error

MFA_ROLES = [Role.CARE_STAFF, Role.HEALTH_PROVIDER, Role.ADMIN, Role.SYSTEM]


async def login(stack: AuthStack, username: str, password: str = PASSWORD) -> pb.LoginResponse:
    return await stack.stub.Login(pb.LoginRequest(username=username, password=password))


# --- password sign-in ---------------------------------------------------------------


async def test_login_ok_for_a_role_without_mfa(stack: AuthStack) -> None:
    rel = PatientRelation("res-1", Relationship.FAMILY, ConsentLevel.FULL)
    user = await stack.add_user("fam@t", Role.FAMILY_MEMBER, relations=(rel,))
    resp = await login(stack, "FAM@t")  # sign-in names are case-insensitive
    assert resp.WhichOneof("result") == "tokens"
    tokens = resp.tokens
    assert not tokens.mfa_enrollment_required
    assert tokens.refresh_token
    principal = stack.servicer.keys.keyset.verify(tokens.access_token, stack.clock.wall())
    assert principal.subject == user.id
    assert principal.relations == (rel,)
    assert principal.session_id
    me = await stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(tokens))
    assert me.user.username == "fam@t"
    assert me.principal.patient_relations[0].consent_level == pb.CONSENT_LEVEL_FULL
    assert me.principal.session_id == principal.session_id


async def test_login_by_email_works(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    resp = await login(stack, "res@example.org")
    assert resp.WhichOneof("result") == "tokens"


async def test_bad_password_and_unknown_user_fail_the_same_way(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    wrong = await rpc_error(login(stack, "res@t", "not the password at all"))
    unknown = await rpc_error(login(stack, "nobody@t"))
    assert wrong.code() == unknown.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.details() == unknown.details() == "invalid username or password"


# --- MFA ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", MFA_ROLES)
async def test_mfa_roles_without_enrolment_get_restricted_tokens(
    stack: AuthStack, role: Role
) -> None:
    await stack.add_user("u@t", role)
    tokens = (await login(stack, "u@t")).tokens
    assert tokens.mfa_enrollment_required
    # The auth service's own normal rpcs refuse it ...
    err = await rpc_error(
        stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(tokens))
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "mfa_required" in (err.details() or "")
    # ... and so does any other service that trusts auth's keys (here: echo).
    access = TokenAccessController(verifier=stack.servicer.keys.verifier(), clock=stack.clock)
    async with (
        serve([EchoServicer("e1")], access=access) as echo_server,
        aio.insecure_channel(echo_server.address) as channel,
    ):
        echo = echo_grpc.EchoServiceStub(channel)
        err = await rpc_error(echo.Echo(echo_pb.EchoRequest(payload="x"), metadata=bearer(tokens)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "mfa_required" in (err.details() or "")


async def test_enrol_and_confirm_mfa_unlocks_full_tokens(stack: AuthStack) -> None:
    await stack.add_user("admin@t", Role.ADMIN)
    restricted = (await login(stack, "admin@t")).tokens
    enrol = await stack.stub.EnrollMfa(pb.EnrollMfaRequest(), metadata=bearer(restricted))
    assert enrol.provisioning_uri.startswith("otpauth://totp/")
    wrong = await rpc_error(
        stack.stub.ConfirmMfa(pb.ConfirmMfaRequest(code="000000"), metadata=bearer(restricted))
    )
    assert wrong.code() == grpc.StatusCode.INVALID_ARGUMENT
    code = totp.code_at(enrol.secret, totp.step_at(stack.clock.wall()))
    confirmed = await stack.stub.ConfirmMfa(
        pb.ConfirmMfaRequest(code=code), metadata=bearer(restricted)
    )
    full = confirmed.tokens
    assert not full.mfa_enrollment_required
    me = await stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(full))
    assert me.principal.mfa_verified and me.user.mfa_enabled
    # The restricted session is over: its refresh token no longer works.
    err = await rpc_error(
        stack.stub.Refresh(pb.RefreshRequest(refresh_token=restricted.refresh_token))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # From now on the password alone yields a challenge, answered with the new secret.
    resp = await login(stack, "admin@t")
    assert resp.WhichOneof("result") == "mfa_challenge"
    stack.clock.advance(totp.STEP_SECONDS)
    code = totp.code_at(enrol.secret, totp.step_at(stack.clock.wall()))
    done = await stack.stub.VerifyMfa(
        pb.VerifyMfaRequest(challenge_token=resp.mfa_challenge.challenge_token, code=code)
    )
    access = TokenAccessController(verifier=stack.servicer.keys.verifier(), clock=stack.clock)
    async with (
        serve([EchoServicer("e1")], access=access) as echo_server,
        aio.insecure_channel(echo_server.address) as channel,
    ):
        reply = await echo_grpc.EchoServiceStub(channel).Echo(
            echo_pb.EchoRequest(payload="hi"), metadata=bearer(done.tokens)
        )
    assert reply.payload == "hi"


async def test_totp_wrong_and_replayed_codes_are_rejected(stack: AuthStack) -> None:
    await stack.add_user("staff@t", Role.CARE_STAFF, mfa=True)
    first = await login(stack, "staff@t")
    challenge = first.mfa_challenge.challenge_token
    good = stack.code("staff@t")
    wrong = str((int(good) + 1) % 1_000_000).zfill(6)
    err = await rpc_error(
        stack.stub.VerifyMfa(pb.VerifyMfaRequest(challenge_token=challenge, code=wrong))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == "invalid MFA code"
    ok = await stack.stub.VerifyMfa(pb.VerifyMfaRequest(challenge_token=challenge, code=good))
    principal = stack.servicer.keys.keyset.verify(ok.tokens.access_token, stack.clock.wall())
    assert principal.mfa
    # The challenge is single-use ...
    err = await rpc_error(
        stack.stub.VerifyMfa(pb.VerifyMfaRequest(challenge_token=challenge, code=good))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # ... and the same code on a fresh challenge (same 30 s step) is a replay.
    second = await login(stack, "staff@t")
    err = await rpc_error(
        stack.stub.VerifyMfa(
            pb.VerifyMfaRequest(challenge_token=second.mfa_challenge.challenge_token, code=good)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == "invalid MFA code"
    # The previous step's code is older than the used one: also refused.
    err = await rpc_error(
        stack.stub.VerifyMfa(
            pb.VerifyMfaRequest(
                challenge_token=second.mfa_challenge.challenge_token,
                code=stack.code("staff@t", -1),
            )
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    stack.clock.advance(totp.STEP_SECONDS)
    ok = await stack.stub.VerifyMfa(
        pb.VerifyMfaRequest(
            challenge_token=second.mfa_challenge.challenge_token, code=stack.code("staff@t")
        )
    )
    assert ok.tokens.access_token


async def test_challenge_expires_with_the_injected_clock(stack: AuthStack) -> None:
    await stack.add_user("p@t", Role.HEALTH_PROVIDER, mfa=True)
    resp = await login(stack, "p@t")
    stack.clock.advance(stack.servicer.config.challenge_ttl)
    err = await rpc_error(
        stack.stub.VerifyMfa(
            pb.VerifyMfaRequest(
                challenge_token=resp.mfa_challenge.challenge_token, code=stack.code("p@t")
            )
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


# --- refresh, logout, expiry ----------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_family(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    await stack.add_user("sys@t", Role.SYSTEM, mfa=True)
    checker = await stack.login_full("sys@t")
    first = (await login(stack, "res@t")).tokens
    stack.clock.advance(60)
    second = (await stack.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token))).tokens
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    # Same session: the new access token names the same session id.
    now = stack.clock.wall()
    keyset = stack.servicer.keys.keyset
    assert (
        keyset.verify(second.access_token, now).session_id
        == keyset.verify(first.access_token, now).session_id
    )
    # The old refresh token comes back: leak detected, the whole session is revoked.
    err = await rpc_error(stack.stub.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "already used" in (err.details() or "")
    err = await rpc_error(stack.stub.Refresh(pb.RefreshRequest(refresh_token=second.refresh_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(
        stack.stub.VerifyToken(
            pb.VerifyTokenRequest(access_token=second.access_token), metadata=bearer(checker)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_revokes_session_and_refresh_token(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    await stack.add_user("sys@t", Role.SYSTEM, mfa=True)
    checker = await stack.login_full("sys@t")
    tokens = (await login(stack, "res@t")).tokens
    verified = await stack.stub.VerifyToken(
        pb.VerifyTokenRequest(access_token=tokens.access_token), metadata=bearer(checker)
    )
    assert verified.principal.role == pb.ROLE_RESIDENT and verified.token_id
    out = await stack.stub.Logout(
        pb.LogoutRequest(refresh_token=tokens.refresh_token), metadata=bearer(tokens)
    )
    assert out.sessions_ended == 1
    err = await rpc_error(stack.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    err = await rpc_error(
        stack.stub.VerifyToken(
            pb.VerifyTokenRequest(access_token=tokens.access_token), metadata=bearer(checker)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (err.details() or "")
    # Idempotent: the second logout ends nothing.
    again = await stack.stub.Logout(pb.LogoutRequest(), metadata=bearer(tokens))
    assert again.sessions_ended == 0


async def test_logout_all_sessions(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    a = (await login(stack, "res@t")).tokens
    b = (await login(stack, "res@t")).tokens
    out = await stack.stub.Logout(pb.LogoutRequest(all_sessions=True), metadata=bearer(a))
    assert out.sessions_ended == 2
    err = await rpc_error(stack.stub.Refresh(pb.RefreshRequest(refresh_token=b.refresh_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_expired_access_token_is_rejected(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    await stack.add_user("sys@t", Role.SYSTEM, mfa=True)
    tokens = (await login(stack, "res@t")).tokens
    await stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(tokens))
    stack.clock.advance(stack.servicer.config.access_ttl)
    checker = await stack.login_full("sys@t")
    err = await rpc_error(
        stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(tokens))
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (err.details() or "")
    err = await rpc_error(
        stack.stub.VerifyToken(
            pb.VerifyTokenRequest(access_token=tokens.access_token), metadata=bearer(checker)
        )
    )
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    # The refresh token still works and yields a fresh access token.
    fresh = await stack.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))
    await stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(fresh.tokens))


async def test_idle_session_ends(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    tokens = (await login(stack, "res@t")).tokens
    stack.clock.advance(stack.servicer.config.session_idle_ttl)
    err = await rpc_error(stack.stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


# --- accounts -------------------------------------------------------------------------


async def test_create_user_is_admin_only_and_enforces_the_policy(stack: AuthStack) -> None:
    await stack.add_user("admin@t", Role.ADMIN, mfa=True)
    await stack.add_user("prov@t", Role.HEALTH_PROVIDER, mfa=True)
    admin = await stack.login_full("admin@t")
    provider = await stack.login_full("prov@t")
    request = pb.CreateUserRequest(
        username="Newfam@t",
        email="newfam@example.org",
        password="a long enough passphrase",
        display_name="New Family",
        role=pb.ROLE_FAMILY_MEMBER,
        patient_relations=[
            pb.PatientRelation(
                patient_id="res-9",
                relationship=pb.PATIENT_RELATIONSHIP_FAMILY,
                consent_level=pb.CONSENT_LEVEL_LIMITED,
            )
        ],
    )
    err = await rpc_error(stack.stub.CreateUser(request, metadata=bearer(provider)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    weak = pb.CreateUserRequest()
    weak.CopyFrom(request)
    weak.password = "short"
    err = await rpc_error(stack.stub.CreateUser(weak, metadata=bearer(admin)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("password:")
    system = pb.CreateUserRequest()
    system.CopyFrom(request)
    system.role = pb.ROLE_SYSTEM
    system.ClearField("patient_relations")
    err = await rpc_error(stack.stub.CreateUser(system, metadata=bearer(admin)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    created = await stack.stub.CreateUser(request, metadata=bearer(admin))
    assert created.user.username == "newfam@t"
    assert created.user.organization_id == "org-test"
    assert not created.user.mfa_enabled
    err = await rpc_error(stack.stub.CreateUser(request, metadata=bearer(admin)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    resp = await login(stack, "newfam@t", "a long enough passphrase")
    claims = stack.servicer.keys.keyset.verify(resp.tokens.access_token, stack.clock.wall())
    assert claims.relations == (
        PatientRelation("res-9", Relationship.FAMILY, ConsentLevel.LIMITED),
    )


async def test_secrets_are_not_stored_in_the_clear(stack: AuthStack) -> None:
    await stack.add_user("staff@t", Role.CARE_STAFF, mfa=True)
    tokens = await stack.login_full("staff@t")
    row = await stack.pool.fetchrow("SELECT password_hash, mfa_secret FROM auth.users")
    assert row["password_hash"].startswith("$argon2id$")
    assert stack.totp_secrets["staff@t"].encode() not in row["mfa_secret"]
    hashes = [
        r["token_hash"]
        for r in await stack.pool.fetch("SELECT token_hash FROM auth.refresh_tokens")
    ]
    assert tokens.refresh_token not in hashes and len(hashes) == 1


# --- keys ---------------------------------------------------------------------------


def _file_verify(stack: AuthStack, token: str) -> Any:
    return load_verifier(str(stack.jwks_path)).verify(token, stack.clock.wall())


async def test_jwks_file_is_written_and_verifies_tokens(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    tokens = (await login(stack, "res@t")).tokens
    document = json.loads(stack.jwks_path.read_text())
    assert [k["kid"] for k in document["keys"]] == [stack.servicer.keys.keyset.current.kid]
    assert "d" not in document["keys"][0]  # public half only
    assert _file_verify(stack, tokens.access_token).subject == "u-res"
    served = await stack.stub.GetJwks(pb.GetJwksRequest())
    assert [(k.kid, k.x, k.crv, k.alg) for k in served.keys] == [
        (k["kid"], k["x"], k["crv"], k["alg"]) for k in document["keys"]
    ]


async def test_rotation_keeps_old_tokens_valid_until_they_expire(stack: AuthStack) -> None:
    await stack.add_user("res@t", Role.RESIDENT)
    keys = stack.servicer.keys
    old_kid = keys.keyset.current.kid
    stack.clock.advance(stack.servicer.config.key_rotation_interval - 60)
    assert not await keys.tick(stack.clock.wall())
    before = (await login(stack, "res@t")).tokens
    stack.clock.advance(60)
    assert await keys.tick(stack.clock.wall())
    new_kid = keys.keyset.current.kid
    assert new_kid != old_kid
    published = {k["kid"] for k in json.loads(stack.jwks_path.read_text())["keys"]}
    assert published == {old_kid, new_kid}
    after = (await login(stack, "res@t")).tokens
    for tokens in (before, after):
        assert _file_verify(stack, tokens.access_token).subject == "u-res"
        await stack.stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(tokens))
    # Once every token of the old key has expired, it leaves the set and the file.
    stack.clock.advance(stack.servicer.config.max_access_ttl)
    await keys.tick(stack.clock.wall())
    published = {k["kid"] for k in json.loads(stack.jwks_path.read_text())["keys"]}
    assert published == {new_kid}
    rows = await stack.pool.fetch("SELECT kid FROM auth.signing_keys")
    assert {r["kid"] for r in rows} == {new_kid}


async def test_restart_keeps_keys_and_sessions(stack: AuthStack, redis: Any) -> None:

    await stack.add_user("res@t", Role.RESIDENT)
    tokens = (await login(stack, "res@t")).tokens
    restarted = await make_servicer(
        stack.pool, redis, stack.clock, stack.jwks_path, stack.servicer.config
    )
    assert restarted.keys.keyset.current.kid == stack.servicer.keys.keyset.current.kid
    assert restarted.keys.keyset.verify(tokens.access_token, stack.clock.wall()).subject == "u-res"
    access = TokenAccessController(verifier=restarted.keys.verifier(), clock=stack.clock)
    async with (
        serve([restarted], access=access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        stub = pb_grpc.AuthServiceStub(channel)
        me = await stub.GetCurrentUser(pb.GetCurrentUserRequest(), metadata=bearer(tokens))
        assert me.user.user_id == "u-res"
        fresh = await stub.Refresh(pb.RefreshRequest(refresh_token=tokens.refresh_token))
        assert fresh.tokens.access_token
