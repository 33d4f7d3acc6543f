"""Fixtures shared by the mesh tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """A fresh directory for embedded servers' state. Not tmp_path: as root, PostgreSQL's
    unprivileged user must traverse the parents, and pytest's base temp dir is 0700."""
    path = Path(tempfile.mkdtemp(prefix="lilo-embedded-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
