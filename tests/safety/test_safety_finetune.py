"""The fine-tune experiment (``services/safety/finetune.py``, needs torch) and the numpy
encoder's override file: the numpy forward pass with fine-tuned layers must give the same
logits as the torch network that was trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.safety import ModelLoadError
from services.safety.classifier import load_heads
from services.safety.embedding import MiniLmEncoder, bundled_model_dir

torch = pytest.importorskip("torch")  # training-only dependency (the [train] extra)

from services.safety import finetune  # noqa: E402  (needs torch)

MESSAGES = [
    "I want to end my life",
    "Dad takes his blood thinner with breakfast and his statin at night",
    "im on the train tracks behind the home, the next one is due at 9",
    "what's for lunch today?",
]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[finetune.FineTuned, Path]:
    """A network whose top two layers are moved well away from the base, and its export."""
    torch.manual_seed(1)
    weights = finetune.base_weights()
    model = finetune.FineTuned(weights, layers=2, width=384, dropout=0.0)
    with torch.no_grad():
        for parameter in model.encoder.values():
            parameter.add_(0.05 * torch.randn_like(parameter))
        model.urgent.weight.normal_()
        model.urgent.bias.fill_(0.3)
    model.eval()
    path = tmp_path_factory.mktemp("override") / "override.safetensors"
    finetune.save_override(model, path)
    return model, path


def test_numpy_encoder_with_override_gives_the_torch_logits(
    tuned: tuple[finetune.FineTuned, Path],
) -> None:
    model, path = tuned
    encoder = MiniLmEncoder(bundled_model_dir(), override=(path, _sha256(path)))
    base = MiniLmEncoder(bundled_model_dir())
    weights = finetune.base_weights()
    ids = [encoder._tokenizer.encode(text).ids for text in MESSAGES]
    states = finetune.lower_states(weights, ids, frozen=4)
    embeddings, logits = finetune.predict(model, states, np.zeros((len(MESSAGES), 0)))
    coef = model.urgent.weight.detach().double().numpy()[0]
    bias = float(model.urgent.bias.detach()[0])
    for row, text in enumerate(MESSAGES):
        vector = encoder.encode(text)
        assert abs(float(vector @ coef) + bias - float(logits[row])) < 1e-4
        assert np.abs(vector - embeddings[row]).max() < 1e-5
        # The override changed the encoder: it is not the base model in disguise.
        assert float(vector @ base.encode(text)) < 0.999


def test_exported_heads_are_refused_by_the_service_loader(tmp_path: Path) -> None:
    """The service does not read ``encoder_override``: it must not load fine-tuned heads
    and pair them with the bundled encoder."""
    path = tmp_path / "crisis_model.json"
    path.write_text(finetune.experiment_heads_json({"urgent": {"ngrams": []}}))
    with pytest.raises(ModelLoadError, match="format"):
        load_heads(path)
