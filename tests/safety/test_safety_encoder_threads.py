"""The encoder's BLAS thread limit: one thread during the forward pass, restored after."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from services.safety.embedding import MiniLmEncoder, bundled_model_dir


def _blas_threads() -> list[int]:
    return [int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_forward_pass_runs_on_one_blas_thread_and_the_limit_is_lifted_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoder = MiniLmEncoder(bundled_model_dir())
    before = _blas_threads()
    during: list[list[int]] = []
    forward = encoder._encode_ids

    def spy(ids: list[int]) -> np.typing.NDArray[np.float32]:
        during.append(_blas_threads())
        return forward(ids)

    monkeypatch.setattr(encoder, "_encode_ids", spy)
    for _ in range(2):  # the controller found once is reused: the second call is limited too
        encoder.encode("I am going to kill myself tonight, I have the pills ready")
    assert len(during) == 2
    assert all(threads and set(threads) == {1} for threads in during)
    assert _blas_threads() == before
