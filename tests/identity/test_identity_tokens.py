"""Access tokens on a rotating Ed25519 key set, with an injected clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mesh.identity.errors import AuthenticationError, TokenExpired, TokenInvalid
from mesh.identity.principal import (
    BreakGlassGrant,
    ConsentLevel,
    PatientRelation,
    Principal,
    Relationship,
    Role,
)
from mesh.identity.tokens import KeySet, TokenVerifier

T0 = 1_750_000_000.0
ISS, AUD = "https://auth.lilo.test", "lilo-mesh"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def keyset() -> KeySet:
    return KeySet(ISS, AUD, T0, max_ttl=3600, default_ttl=900)


@pytest.fixture
def provider() -> Principal:
    return Principal.user(
        "u-prov",
        Role.HEALTH_PROVIDER,
        organization_id="org-1",
        relations=(PatientRelation("r-1", Relationship.PROVIDER, ConsentLevel.FULL),),
        session_id="s-1",
        break_glass=(BreakGlassGrant("r-9", T0 + 600, "g-1"),),
        mfa=True,
    )


def test_round_trip_preserves_the_principal(keyset: KeySet, provider: Principal) -> None:
    token = keyset.issue(provider, T0)
    assert keyset.verify(token, T0 + 1) == provider
    assert jwt.get_unverified_header(token)["kid"] == keyset.current.kid


def test_expiry_uses_the_injected_clock(keyset: KeySet, provider: Principal) -> None:
    token = keyset.issue(provider, T0, ttl=60)
    keyset.verify(token, T0 + 59.9)
    with pytest.raises(TokenExpired):
        keyset.verify(token, T0 + 60)
    # Far in the past relative to the OS clock, but valid at the injected now: pyjwt's own
    # wall-clock check must not interfere either way.
    old = KeySet(ISS, AUD, 1_000.0)
    assert old.verify(old.issue(provider, 1_000.0), 1_001.0).subject == "u-prov"


def test_token_from_the_future_is_rejected(keyset: KeySet, provider: Principal) -> None:
    token = keyset.issue(provider, T0 + 3600)
    with pytest.raises(TokenInvalid, match="not valid yet"):
        keyset.verify(token, T0)


def test_ttl_above_max_is_refused(keyset: KeySet, provider: Principal) -> None:
    with pytest.raises(ValueError):
        keyset.issue(provider, T0, ttl=3601)


def test_service_principals_get_no_tokens(keyset: KeySet) -> None:
    with pytest.raises(ValueError):
        keyset.issue(Principal.service("crisis"), T0)


def test_forged_signature_is_invalid(keyset: KeySet, provider: Principal) -> None:
    token = keyset.issue(provider, T0)
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{sig}"
    with pytest.raises(TokenInvalid):
        keyset.verify(forged, T0)
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    with pytest.raises(TokenInvalid):
        keyset.verify(f"{header}.{payload}.{flipped}", T0)


def test_forged_expired_token_is_invalid_not_expired(keyset: KeySet, provider: Principal) -> None:
    other = KeySet(ISS, AUD, T0)
    token = other.issue(provider, T0, ttl=1)
    # Same kid header as ours, wrong key: signature must fail before expiry is considered.
    header, payload, sig = token.split(".")
    h = json.loads(base64.urlsafe_b64decode(header + "=="))
    h["kid"] = keyset.current.kid
    with pytest.raises(TokenInvalid):
        keyset.verify(f"{b64(json.dumps(h).encode())}.{payload}.{sig}", T0 + 100)


def test_wrong_key_and_unknown_kid(keyset: KeySet, provider: Principal) -> None:
    stranger = KeySet(ISS, AUD, T0)
    with pytest.raises(TokenInvalid, match="unknown key id"):
        keyset.verify(stranger.issue(provider, T0), T0)
    no_kid = jwt.encode({"sub": "x"}, keyset.current.private_key, algorithm="EdDSA")
    with pytest.raises(TokenInvalid, match="unknown key id"):
        keyset.verify(no_kid, T0)


@pytest.mark.parametrize(("iss", "aud"), [("https://evil.test", AUD), (ISS, "other-aud")])
def test_wrong_issuer_or_audience(provider: Principal, iss: str, aud: str) -> None:
    signer = KeySet(iss, aud, T0)
    verifier = TokenVerifier(ISS, AUD, {signer.current.kid: (signer.current.public_key, None)})
    with pytest.raises(TokenInvalid):
        verifier.verify(signer.issue(provider, T0), T0)


def test_alg_none_is_rejected(keyset: KeySet, provider: Principal) -> None:
    good = keyset.issue(provider, T0)
    payload = good.split(".")[1]
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": keyset.current.kid}).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(TokenInvalid):
            keyset.verify(token, T0)


def test_hs256_with_public_key_as_secret_is_rejected(keyset: KeySet, provider: Principal) -> None:
    good = keyset.issue(provider, T0)
    payload = good.split(".")[1]
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keyset.current.kid}).encode())
    jwk_x = keyset.jwks()["keys"][0]["x"]
    for secret in (base64.urlsafe_b64decode(jwk_x + "=="), jwk_x.encode()):
        sig = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        with pytest.raises(TokenInvalid, match="algorithm"):
            keyset.verify(f"{header}.{payload}.{b64(sig)}", T0)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 50, "..."])
def test_malformed_tokens(keyset: KeySet, garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        keyset.verify(garbage, T0)


def test_malformed_claims_signed_by_us_are_invalid(keyset: KeySet) -> None:
    k = keyset.current
    base = {"iss": ISS, "aud": AUD, "iat": T0, "exp": T0 + 60, "jti": "j", "typ": "access"}
    for extra in ({"sub": "u", "role": "wizard"}, {"sub": "u", "role": "admin", "mfa": "yes"}):
        token = jwt.encode({**base, **extra}, k.private_key, "EdDSA", headers={"kid": k.kid})
        with pytest.raises(TokenInvalid):
            keyset.verify(token, T0)
    not_access = jwt.encode(
        {**base, "sub": "u", "role": "admin", "typ": "refresh"},
        k.private_key,
        "EdDSA",
        headers={"kid": k.kid},
    )
    with pytest.raises(TokenInvalid, match="access"):
        keyset.verify(not_access, T0)


def test_rotation_keeps_old_tokens_until_they_expire(keyset: KeySet, provider: Principal) -> None:
    old_kid = keyset.current.kid
    old_token = keyset.issue(provider, T0, ttl=3600)
    new_key = keyset.rotate(T0 + 10)
    assert new_key.kid != old_kid
    new_token = keyset.issue(provider, T0 + 10)
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    assert {k["kid"] for k in keyset.jwks()["keys"]} == {old_kid, new_key.kid}
    # Old token still verifies after rotation, until its own exp.
    assert keyset.verify(old_token, T0 + 3599).subject == provider.subject
    with pytest.raises(TokenExpired):
        keyset.verify(old_token, T0 + 3600)
    # Once every token of the old key has expired, the key is pruned and unpublished.
    keyset.rotate(T0 + 10 + 3600)
    assert old_kid not in {k["kid"] for k in keyset.jwks()["keys"]}
    with pytest.raises(TokenInvalid, match="unknown key id"):
        keyset.verify(old_token, T0 + 3700)


def test_retired_key_stops_verifying_at_its_deadline(keyset: KeySet, provider: Principal) -> None:
    token = keyset.issue(provider, T0, ttl=60)
    key = keyset.current
    verifier = TokenVerifier(ISS, AUD, {key.kid: (key.public_key, T0 + 10)})
    assert verifier.verify(token, T0 + 9).subject == provider.subject
    with pytest.raises(TokenInvalid, match="retired"):
        verifier.verify(token, T0 + 10)


def test_jwks_verifier_accepts_our_tokens_only(keyset: KeySet, provider: Principal) -> None:
    doc = json.loads(json.dumps(keyset.jwks()))  # as served over the wire
    assert doc["keys"][0]["kty"] == "OKP" and "d" not in doc["keys"][0]
    verifier = TokenVerifier.from_jwks(ISS, AUD, doc)
    assert verifier.verify(keyset.issue(provider, T0), T0).role is Role.HEALTH_PROVIDER
    with pytest.raises(TokenInvalid):
        verifier.verify(KeySet(ISS, AUD, T0).issue(provider, T0), T0)


def test_kid_is_deterministic_from_the_key() -> None:
    key = Ed25519PrivateKey.generate()
    a = KeySet(ISS, AUD, T0, key_factory=lambda: key)
    b = KeySet(ISS, AUD, T0 + 5, key_factory=lambda: key)
    assert a.current.kid == b.current.kid


def test_errors_are_authentication_errors() -> None:
    assert issubclass(TokenExpired, AuthenticationError)
    assert issubclass(TokenInvalid, AuthenticationError)
