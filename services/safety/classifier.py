"""``ModelDetector``: logistic-regression heads on MiniLM sentence embeddings.

The heads are trained by ``services/safety/train.py`` and stored as plain numbers in
``services/safety/data/crisis_model.json`` (no pickle, no scikit-learn at run time):

- ``urgent``: one binary head, P(HIGH or CRITICAL). It reads the embedding followed by
  TF-IDF word 1-2-gram features (``ngram_features``): the mean-pooled embedding blurs "hang
  myself" and "hang the pictures", the word pairs do not. Format 5 adds TF-IDF character
  2-5-grams inside word boundaries (``char_ngram_features``), which still match a word
  through a typo, a suffix or text-speak ("overdosed", "od'd", "tabs"/"tablets").
  With ``blend_level`` (format 4) the urgent probability is the mean of this head and
  the level head's P(HIGH) + P(CRITICAL); that probability alone decides whether the
  message is urgent, against ``threshold`` (chosen by cross-validation for recall, see train.py).
- ``level``: a 5-way head (NONE..CRITICAL) on the same features as ``urgent``. It splits
  urgent messages into HIGH/CRITICAL and grades the others NONE/LOW/MEDIUM. (With the
  embedding alone it called messages with a means word, "tablets", "knife", CRITICAL too
  often; the word pairs tell "knife block" from "knife to my throat".)
- ``categories``: one binary head per ``CrisisCategory``.

The model reads ``model_input(text)``: the rules' normalisation (typos, text-speak) with
the rules' idioms blanked out, so "my feet are killing me" reaches it as "my feet".

Decision logic (``decide``) is pure numpy on a given embedding; the embedding model is
loaded lazily, once, on first use or by ``warm_up``. The detector finds no PHI.

``RulesAndModelDetector`` (the service default, ``default_detector``) combines the rules
and the model like ``CompositeDetector`` (highest level wins, nobody lowers the other),
with one guard: when the rules saw crisis words and explained them away by context
(negated, addressed to the listener, innocent, a joke, about TV or training), or noted an
idiom or routine medication talk (``detector.CONTEXT_DISCOUNTS``), and do not themselves
say HIGH, the model alone may raise the message to MEDIUM but not to HIGH. In training
data no urgent message had such a discount, while many false alarms did.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.safety import ModelLoadError
from services.safety.detector import CONTEXT_DISCOUNTS, Detector, RuleDetector, combine
from services.safety.embedding import EMBEDDING_DIM, MiniLmEncoder
from services.safety.model import Analysis, CrisisCategory, CrisisLevel, make_analysis
from services.safety.normalize import normalize
from services.safety.rules import IDIOMS

__all__ = [
    "DEFAULT_WEIGHTS",
    "CrisisHeads",
    "ModelDetector",
    "RulesAndModelDetector",
    "Verdict",
    "decide",
    "default_detector",
    "load_heads",
    "model_input",
    "ngram_features",
    "shared_encoder",
]

DEFAULT_WEIGHTS = Path(__file__).parent / "data" / "crisis_model.json"
# 3: the level head reads the n-gram features too; 4: ``blend_level`` (see CrisisHeads);
# 5: character n-grams after the word n-grams.
FORMAT_VERSION = 5
# A category is reported when its head says at least this much.
CATEGORY_THRESHOLD = 0.5

Floats = npt.NDArray[np.float64]


def _sigmoid(z: Floats) -> Floats:
    out: Floats = 1.0 / (1.0 + np.exp(-z))
    return out


def _softmax(z: Floats) -> Floats:
    e = np.exp(z - z.max())
    out: Floats = e / e.sum()
    return out


# scikit-learn's default token pattern, so training and run time split words alike.
_NGRAM_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class CrisisHeads:
    """The trained linear heads; shapes are checked by ``load_heads``.

    The urgent and level heads read the embedding, then the word n-gram features, then the
    character n-gram features times ``char_weight``; with an empty vocabulary a block is
    left out.
    With ``blend_level`` the urgent probability compared with ``threshold`` is the mean of
    the urgent head and the level head's P(HIGH) + P(CRITICAL); without it, the urgent
    head alone.
    """

    urgent_coef: Floats  # (EMBEDDING_DIM + len(ngram_vocabulary) + len(char_vocabulary),)
    urgent_intercept: float
    threshold: float
    level_coef: Floats  # (5, the urgent head's width), rows in CrisisLevel order
    level_intercept: Floats  # (5,)
    category_coef: Floats  # (len(CrisisCategory), EMBEDDING_DIM), rows in enum order
    category_intercept: Floats  # (len(CrisisCategory),)
    ngram_vocabulary: Mapping[str, int] = field(default_factory=dict)
    ngram_idf: Floats = field(default_factory=lambda: np.zeros(0))
    blend_level: bool = False
    char_vocabulary: Mapping[str, int] = field(default_factory=dict)
    char_idf: Floats = field(default_factory=lambda: np.zeros(0))
    char_weight: float = 1.0


def ngram_features(text: str, vocabulary: Mapping[str, int], idf: Floats) -> Floats:
    """TF-IDF of the word 1- and 2-grams of ``text`` as scikit-learn's ``TfidfVectorizer``
    (lowercase, default token pattern, ``sublinear_tf``, L2 norm) computes them."""
    words = _NGRAM_TOKEN.findall(text.lower())
    grams = Counter(words + [f"{a} {b}" for a, b in itertools.pairwise(words)])
    return _tfidf(grams, vocabulary, idf)


# The shortest and longest character n-gram; training uses the same range.
CHAR_NGRAM_RANGE = (2, 5)


def char_ngram_features(text: str, vocabulary: Mapping[str, int], idf: Floats) -> Floats:
    """TF-IDF of the character n-grams (``CHAR_NGRAM_RANGE``) of each lowercased word
    padded with one space either side, as scikit-learn's ``TfidfVectorizer`` with
    ``analyzer="char_wb"`` and ``sublinear_tf`` computes them (training checks that it
    agrees). A padded word no longer than n gives itself once, and no longer n-grams."""
    low, high = CHAR_NGRAM_RANGE
    grams: Counter[str] = Counter()
    for word in text.lower().split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:
                grams[padded] += 1  # shorter than n: itself, once; no longer n-grams
                break
            grams.update(padded[start : start + n] for start in range(len(padded) - n + 1))
    return _tfidf(grams, vocabulary, idf)


def _tfidf(grams: Counter[str], vocabulary: Mapping[str, int], idf: Floats) -> Floats:
    """Sublinear term frequency times idf over ``vocabulary``, L2-normalised."""
    features = np.zeros(len(vocabulary))
    for gram, count in grams.items():
        index = vocabulary.get(gram)
        if index is not None:
            features[index] = (1.0 + math.log(count)) * idf[index]
    norm = float(np.linalg.norm(features))
    out: Floats = features / norm if norm > 0 else features
    return out


@dataclass(frozen=True)
class Verdict:
    """What the heads say about one embedding."""

    level: CrisisLevel
    urgent_probability: float
    categories: tuple[CrisisCategory, ...]


def _array(raw: Any, shape: tuple[int, ...], what: str) -> Floats:
    array = np.asarray(raw, dtype=np.float64)
    if array.shape != shape:
        raise ModelLoadError(f"classifier {what} has shape {array.shape}, expected {shape}")
    return array


def _strings(raw: Any, path: Path, what: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(gram, str) for gram in raw):
        raise ModelLoadError(f"{path}: urgent {what} must be a list of strings")
    return raw


def load_heads(path: Path = DEFAULT_WEIGHTS) -> CrisisHeads:
    """Read the heads from ``path``. Raises ``ModelLoadError`` if absent or malformed."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read classifier weights {path}: {error}") from error
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_VERSION:
        raise ModelLoadError(f"{path} is not a format-{FORMAT_VERSION} classifier file")
    try:
        levels, categories = len(CrisisLevel), len(CrisisCategory)
        vocabulary = _strings(raw["urgent"]["ngrams"], path, "ngrams")
        chars = _strings(raw["urgent"]["char_ngrams"], path, "char_ngrams")
        width = EMBEDDING_DIM + len(vocabulary) + len(chars)
        return CrisisHeads(
            urgent_coef=_array(raw["urgent"]["coef"], (width,), "urgent coef"),
            urgent_intercept=float(raw["urgent"]["intercept"]),
            threshold=float(raw["urgent"]["threshold"]),
            level_coef=_array(raw["level"]["coef"], (levels, width), "level coef"),
            level_intercept=_array(raw["level"]["intercept"], (levels,), "level intercept"),
            category_coef=_array(
                raw["categories"]["coef"], (categories, EMBEDDING_DIM), "category coef"
            ),
            category_intercept=_array(
                raw["categories"]["intercept"], (categories,), "category intercept"
            ),
            ngram_vocabulary={gram: index for index, gram in enumerate(vocabulary)},
            ngram_idf=_array(raw["urgent"]["idf"], (len(vocabulary),), "urgent idf"),
            blend_level=bool(raw["urgent"]["blend_level"]),
            char_vocabulary={gram: index for index, gram in enumerate(chars)},
            char_idf=_array(raw["urgent"]["char_idf"], (len(chars),), "urgent char idf"),
            char_weight=float(raw["urgent"]["char_weight"]),
        )
    except (KeyError, TypeError) as error:
        raise ModelLoadError(f"{path} lacks a field: {error!r}") from error


def decide(heads: CrisisHeads, embedding: npt.NDArray[np.floating[Any]], text: str = "") -> Verdict:
    """Apply the heads to one embedding of ``text`` (the model input). Pure."""
    x = np.asarray(embedding, dtype=np.float64)
    urgent_x = np.concatenate(
        [
            x,
            ngram_features(text, heads.ngram_vocabulary, heads.ngram_idf),
            heads.char_weight * char_ngram_features(text, heads.char_vocabulary, heads.char_idf),
        ]
    )
    p_urgent = float(_sigmoid(np.array(urgent_x @ heads.urgent_coef + heads.urgent_intercept)))
    p_level = _softmax(heads.level_coef @ urgent_x + heads.level_intercept)
    order = list(CrisisLevel)
    high, critical = (
        float(p_level[order.index(CrisisLevel.HIGH)]),
        float(p_level[order.index(CrisisLevel.CRITICAL)]),
    )
    if heads.blend_level:
        p_urgent = (p_urgent + high + critical) / 2.0
    if p_urgent >= heads.threshold:
        level = CrisisLevel.CRITICAL if critical > high else CrisisLevel.HIGH
    else:
        below = order.index(CrisisLevel.HIGH)
        level = order[int(np.argmax(p_level[:below]))]
    categories: tuple[CrisisCategory, ...] = ()
    if level > CrisisLevel.NONE:
        p_category = _sigmoid(heads.category_coef @ x + heads.category_intercept)
        chosen = [
            c for c, p in zip(CrisisCategory, p_category, strict=True) if p >= CATEGORY_THRESHOLD
        ]
        # A raised level always names at least its most likely category.
        categories = tuple(chosen) or (list(CrisisCategory)[int(np.argmax(p_category))],)
    return Verdict(level, p_urgent, categories)


@functools.lru_cache(maxsize=4)
def shared_encoder(model_dir: Path | None = None) -> MiniLmEncoder:
    """One encoder per weights directory and process: the weights are read-only."""
    return MiniLmEncoder(model_dir)


class ModelDetector:
    """Screens with the embedding model and the trained heads.

    Loading (about 1 s: checksum and 90 MB of weights) happens once, on the first
    ``analyze`` or on ``warm_up``, under a lock so concurrent first calls load once.
    Raises ``ModelLoadError`` from either when the files are missing or wrong.
    """

    def __init__(self, weights: Path = DEFAULT_WEIGHTS, encoder_dir: Path | None = None) -> None:
        self._weights = weights
        self._encoder_dir = encoder_dir
        self._lock = threading.Lock()
        self._loaded: tuple[MiniLmEncoder, CrisisHeads] | None = None

    def warm_up(self) -> None:
        """Load the model now rather than on the first message."""
        self._load()

    def _load(self) -> tuple[MiniLmEncoder, CrisisHeads]:
        with self._lock:
            if self._loaded is None:
                heads = load_heads(self._weights)
                self._loaded = (shared_encoder(self._encoder_dir), heads)
            return self._loaded

    def verdict(self, text: str) -> Verdict:
        encoder, heads = self._load()
        cleaned = model_input(text)
        if not cleaned:  # nothing but idioms and spaces
            return Verdict(CrisisLevel.NONE, 0.0, ())
        embedding = encoder.encode(cleaned)
        # The heads' products (5 x ~12 000) are big enough for BLAS to start threads, whose
        # spinning doubled the CPU per message: one thread, as in the encoder.
        with encoder.single_blas_thread():
            return decide(heads, embedding, cleaned)

    def analyze(self, text: str) -> Analysis:
        verdict = self.verdict(text)
        reason = (
            f"{verdict.level.name}: model, P(HIGH or CRITICAL) = {verdict.urgent_probability:.2f}"
        )
        return make_analysis(verdict.level, verdict.categories, (), text, [reason])


def model_input(text: str) -> str:
    """What the model reads: normalised text with the rules' idioms blanked out."""
    return " ".join(IDIOMS.sub(" ", normalize(text)).split())


# The model alone may raise a message the rules explained away this far and no further.
GUARDED_CAP = CrisisLevel.MEDIUM


class RulesAndModelDetector:
    """Rules and model combined; see the module docstring for the one guard."""

    def __init__(self, rules: Detector | None = None, model: Detector | None = None) -> None:
        self._rules = rules or RuleDetector()
        self._model = model or ModelDetector()

    def analyze(self, text: str) -> Analysis:
        by_rules = self._rules.analyze(text)
        by_model = self._model.analyze(text)
        explained_away = by_rules.level < CrisisLevel.HIGH and any(
            reason in CONTEXT_DISCOUNTS for reason in by_rules.reasons
        )
        if explained_away and by_model.level > GUARDED_CAP:
            by_model = make_analysis(
                GUARDED_CAP,
                by_model.categories,
                (),
                text,
                [*by_model.reasons, f"model capped at {GUARDED_CAP.name}: rules found context"],
            )
        return combine(text, [by_rules, by_model])


def default_detector(model: Detector | None = None) -> RulesAndModelDetector:
    """The service's detector: ``RuleDetector`` plus ``model`` (default ``ModelDetector()``)."""
    return RulesAndModelDetector(RuleDetector(), model)


def heads_to_json(heads: Mapping[str, Any]) -> str:
    """Serialise trained heads (already plain lists) in the format ``load_heads`` reads."""
    return json.dumps({"format": FORMAT_VERSION, **heads}, separators=(",", ":"))
