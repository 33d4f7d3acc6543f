"""Pure rules of the auth service and the secret box."""

from __future__ import annotations

import pytest

from mesh.identity.principal import Relationship, Role
from services.auth.logic import (
    AuthConfig,
    InputError,
    LoginOutcome,
    check_password_policy,
    login_outcome,
    relation_fits_role,
    rotation_due,
    session_alive,
    validate_email,
    validate_username,
)
from services.auth.secretbox import SecretBox, SecretBoxError


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 12"),
        ("aaaaaaaaaaaaaaaa", "5 different"),
        ("password1234", "too common"),
        ("my-name-is-alice-ok", "username"),
        ("x" * 60 + "abcdefghij" * 8, "at most 128"),
    ],
)
def test_password_policy_rejects(password: str, why: str) -> None:
    with pytest.raises(InputError) as info:
        check_password_policy(password, username="alice", email="alice@example.org")
    assert info.value.field == "password"
    assert why in str(info.value)


def test_password_policy_accepts_a_passphrase() -> None:
    check_password_policy("correct horse battery staple", username="alice", email="a@b.org")


def test_username_and_email_are_normalised_and_checked() -> None:
    assert validate_username("  Alice@Demo ") == "alice@demo"
    assert validate_email("Alice@Example.ORG") == "alice@example.org"
    with pytest.raises(InputError, match="username"):
        validate_username("a b")
    with pytest.raises(InputError, match="email"):
        validate_email("not-an-email")


@pytest.mark.parametrize(
    ("role", "enrolled", "outcome"),
    [
        (Role.CARE_STAFF, False, LoginOutcome.RESTRICTED),
        (Role.HEALTH_PROVIDER, False, LoginOutcome.RESTRICTED),
        (Role.ADMIN, False, LoginOutcome.RESTRICTED),
        (Role.SYSTEM, False, LoginOutcome.RESTRICTED),
        (Role.FAMILY_MEMBER, False, LoginOutcome.TOKENS),
        (Role.RESIDENT, False, LoginOutcome.TOKENS),
        (Role.RESIDENT, True, LoginOutcome.CHALLENGE),
        (Role.ADMIN, True, LoginOutcome.CHALLENGE),
    ],
)
def test_login_outcome(role: Role, enrolled: bool, outcome: LoginOutcome) -> None:
    assert login_outcome(role, enrolled) is outcome


def test_session_alive_idle_and_absolute_limits() -> None:
    base = {"created_at": 0.0, "idle_ttl": 100.0, "max_age": 1000.0}
    assert session_alive(last_seen=50.0, now=149.0, **base)
    assert not session_alive(last_seen=50.0, now=150.0, **base)
    assert not session_alive(last_seen=990.0, now=1000.0, **base)


def test_rotation_due() -> None:
    assert not rotation_due(100.0, 199.0, 100.0)
    assert rotation_due(100.0, 200.0, 100.0)


def test_relation_fits_role() -> None:
    assert relation_fits_role(Role.FAMILY_MEMBER, Relationship.FAMILY)
    assert not relation_fits_role(Role.FAMILY_MEMBER, Relationship.PROVIDER)
    assert not relation_fits_role(Role.RESIDENT, Relationship.FAMILY)


def test_config_refuses_access_ttl_above_ceiling() -> None:
    with pytest.raises(ValueError):
        AuthConfig(access_ttl=7200.0)


def test_secret_box_binds_purpose_and_key() -> None:
    box = SecretBox(b"a" * 32)
    sealed = box.seal(b"JBSWY3DPEHPK3PXP", "mfa:u1")
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert box.open(sealed, "mfa:u1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(SecretBoxError):
        box.open(sealed, "mfa:u2")  # copied into another user's row
    with pytest.raises(SecretBoxError):
        SecretBox(b"b" * 32).open(sealed, "mfa:u1")
