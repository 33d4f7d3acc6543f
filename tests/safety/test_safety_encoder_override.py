"""The numpy encoder's override file (what a fine-tuned encoder would ship as) is checked
before use; these need no torch, unlike ``test_safety_finetune.py``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from services.safety import ModelLoadError
from services.safety.embedding import MiniLmEncoder, bundled_model_dir


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_override_with_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "override.safetensors"
    save_file({"encoder.layer.5.output.dense.bias": np.zeros(384, np.float32)}, str(path))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        MiniLmEncoder(bundled_model_dir(), override=(path, "0" * 64))


def test_override_naming_an_unknown_tensor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    save_file({"encoder.layer.9.output.dense.bias": np.zeros(384, np.float32)}, str(path))
    with pytest.raises(ModelLoadError, match="not a base tensor"):
        MiniLmEncoder(bundled_model_dir(), override=(path, _sha256(path)))


def test_missing_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="missing"):
        MiniLmEncoder(bundled_model_dir(), override=(tmp_path / "absent", "0" * 64))
