"""argon2id passwords and TOTP with injected time and replay protection."""

from __future__ import annotations

import pytest

from mesh.identity import totp
from mesh.identity.errors import BadCredentials, MfaInvalid
from mesh.identity.passwords import PasswordPolicy, Passwords

CHEAP = PasswordPolicy(time_cost=1, memory_cost_kib=8, parallelism=1)


def test_password_hash_and_verify() -> None:
    pw = Passwords(CHEAP)
    stored = pw.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert pw.hash("correct horse battery staple") != stored  # salted
    assert pw.verify(stored, "correct horse battery staple")
    assert not pw.verify(stored, "correct horse battery stapler")
    assert not pw.verify("not-a-hash", "whatever")
    assert not pw.verify(stored, "x" * 5000)


def test_password_check_raises_bad_credentials() -> None:
    pw = Passwords(CHEAP)
    stored = pw.hash("pw-1")
    pw.check(stored, "pw-1")
    with pytest.raises(BadCredentials):
        pw.check(stored, "pw-2")
    with pytest.raises(BadCredentials):
        pw.check(None, "pw-1")  # unknown user: same error, same work


def test_needs_rehash_when_policy_changes() -> None:
    old = Passwords(CHEAP)
    stronger = Passwords(PasswordPolicy(time_cost=2, memory_cost_kib=16, parallelism=1))
    stored = old.hash("pw")
    assert not old.needs_rehash(stored)
    assert stronger.needs_rehash(stored)
    assert stronger.verify(stored, "pw")  # old hashes still verify during migration
    assert stronger.needs_rehash("garbage")


def test_empty_password_refused() -> None:
    with pytest.raises(ValueError):
        Passwords(CHEAP).hash("")


SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = 1_750_000_015.0  # inside step 58_333_333 + 0.5


def test_totp_accepts_current_and_adjacent_steps_only() -> None:
    step = totp.step_at(NOW)
    for offset in (-1, 0, 1):
        assert totp.verify(SECRET, totp.code_at(SECRET, step + offset), NOW) == step + offset
    for offset in (-2, 2):
        with pytest.raises(MfaInvalid):
            totp.verify(SECRET, totp.code_at(SECRET, step + offset), NOW)


def test_totp_replay_in_the_same_step_is_refused() -> None:
    code = totp.code_at(SECRET, totp.step_at(NOW))
    used = totp.verify(SECRET, code, NOW, last_used_step=None)
    with pytest.raises(MfaInvalid, match="already used"):
        totp.verify(SECRET, code, NOW + 1, last_used_step=used)
    # An older (still in-window) code after a newer one was used is refused too.
    older = totp.code_at(SECRET, used - 1)
    with pytest.raises(MfaInvalid, match="already used"):
        totp.verify(SECRET, older, NOW, last_used_step=used)
    # The next step's code is fine.
    nxt = totp.code_at(SECRET, used + 1)
    assert totp.verify(SECRET, nxt, NOW + 30, last_used_step=used) == used + 1


@pytest.mark.parametrize(
    "bad", ["", "12345", "1234567", "abcdef", "\uff11\uff12\uff13\uff14\uff15\uff16"]
)
def test_totp_malformed(bad: str) -> None:
    with pytest.raises(MfaInvalid):
        totp.verify(SECRET, bad, NOW)


def test_totp_wrong_code_and_spaces() -> None:
    code = totp.code_at(SECRET, totp.step_at(NOW))
    assert totp.verify(SECRET, f"{code[:3]} {code[3:]}", NOW) == totp.step_at(NOW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(MfaInvalid):
        totp.verify(SECRET, wrong, NOW)


def test_new_secret_and_uri() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32 and secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, "nurse@example.org", issuer="Lilo")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri and "issuer=Lilo" in uri
