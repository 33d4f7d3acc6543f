"""buf keeps the contracts linted, formatted and backward compatible with the release."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
RELEASE = ROOT / "protos" / "release" / "lilo-contracts.binpb"

pytestmark = pytest.mark.skipif(not BUF.exists(), reason="buf not installed: run scripts/test")


def buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_lint_is_clean() -> None:
    result = buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_format_is_clean() -> None:
    result = buf("format", "-d", "--exit-code")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_breaking_change_against_the_release() -> None:
    assert RELEASE.exists(), "no released contract: run scripts/release-contracts"
    result = buf("breaking", "protos", "--against", str(RELEASE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_deleting_a_released_field_is_caught(tmp_path: Path) -> None:
    for name in ("buf.yaml", "protos", "third_party"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    proto = tmp_path / "protos/lilo/crisis/v1/crisis_service.proto"
    text = proto.read_text()
    field = (
        "  // TraceId links the alert to the trace of the call that raised it.\n"
        "  string trace_id = 7;\n"
    )
    assert field in text
    proto.write_text(text.replace(field, ""))
    result = buf("breaking", "protos", "--against", str(RELEASE), cwd=tmp_path)
    assert result.returncode != 0
    assert "trace_id" in result.stdout and "deleted" in result.stdout.lower()
