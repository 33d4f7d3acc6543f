"""The launcher's key handling: services follow the auth service's key rotations."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mesh.errors import ConfigError
from mesh.identity.principal import Principal, Role
from mesh.identity.tokens import KeySet
from mesh.runner import AUDIENCE, ISSUER, load_verifier


def test_verifier_follows_a_rotated_jwks_file(tmp_path: Path) -> None:
    now = time.time()
    path = tmp_path / "jwks.json"
    old = KeySet(ISSUER, AUDIENCE, now)
    path.write_text(json.dumps(old.jwks()))
    verifier = load_verifier(str(path))
    user = Principal.user("u", Role.RESIDENT)
    assert verifier.verify(old.issue(user, now), now).subject == "u"

    new = KeySet(ISSUER, AUDIENCE, now)  # a key the verifier has never seen
    path.write_text(json.dumps(new.jwks()))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    verifier._checked -= 10  # the next verify is past the check interval
    assert verifier.verify(new.issue(user, now), now).subject == "u"


def test_missing_jwks_says_to_start_auth_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="start the auth service first"):
        load_verifier(str(tmp_path / "absent.json"))
