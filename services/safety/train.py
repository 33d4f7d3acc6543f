"""Train the ``ModelDetector`` heads: ``python -m services.safety.train``.

Reads the training pool (``TRAINING_SETS``), embeds every message as the detector sees it
(``model_input``) with the bundled all-MiniLM-L6-v2 (``services.safety.embedding``), fits
logistic-regression heads with scikit-learn and writes
``services/safety/data/crisis_model.json``. Deterministic: the same
files give the same weights. scikit-learn is needed here only, not at run time.

The urgent threshold is the highest one whose 5-fold cross-validated recall on the pool
reaches ``TARGET_CV_RECALL``: recall is bought with precision on purpose, because the
service exists to find the urgent messages.

``tests/safety/blind_set.jsonl`` and ``tests/safety/holdout_set.jsonl`` are held out and
must never be added to ``TRAINING_SETS``; ``main`` refuses them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.safety.classifier import DEFAULT_WEIGHTS, heads_to_json, model_input
from services.safety.embedding import MiniLmEncoder
from services.safety.evaluate import Example, parse_examples
from services.safety.model import CrisisCategory, CrisisLevel

__all__ = ["HELD_OUT", "TRAINING_SETS", "main", "train"]

ROOT = Path(__file__).resolve().parents[2]
TRAINING_SETS = (
    ROOT / "services/safety/data/train_set.jsonl",  # written for the model
    ROOT / "tests/safety/eval_set.jsonl",  # the rules' in-sample set
    ROOT / "tests/safety/holdout_v1_set.jsonl",  # the rules' first holdout, since tuned on
)
HELD_OUT = frozenset({"blind_set.jsonl", "holdout_set.jsonl"})
TARGET_CV_RECALL = 0.95
C_URGENT = 4.0  # inverse regularisation; picked by cross-validation on the pool
C_LEVEL = 4.0
C_CATEGORY = 4.0
FOLDS = 5
_THRESHOLDS = [round(t, 2) for t in np.arange(0.10, 0.91, 0.01)]


def _load(paths: Sequence[Path]) -> list[Example]:
    seen: set[str] = set()
    examples: list[Example] = []
    for path in paths:
        if path.name in HELD_OUT:
            raise SystemExit(f"{path.name} is a held-out set and must not be trained on")
        with path.open(encoding="utf-8") as handle:
            for example in parse_examples(handle):
                key = example.text.strip().lower()
                if key not in seen:
                    seen.add(key)
                    examples.append(example)
    return examples


def _fit(x: Any, y: Any, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)


def _pick_threshold(x: Any, urgent: Any) -> tuple[float, float, float]:
    """(threshold, cv recall, cv precision) for the highest threshold meeting the target."""
    from sklearn.model_selection import StratifiedKFold

    probability = np.zeros(len(urgent))
    for train_rows, test_rows in StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(
        x, urgent
    ):
        model = _fit(x[train_rows], urgent[train_rows], C_URGENT)
        probability[test_rows] = model.predict_proba(x[test_rows])[:, 1]
    best = (_THRESHOLDS[0], 0.0, 0.0)
    for threshold in _THRESHOLDS:
        flagged = probability >= threshold
        hits = float((flagged & urgent).sum())
        recall = hits / float(urgent.sum())
        precision = hits / float(flagged.sum()) if flagged.any() else 1.0
        if recall >= TARGET_CV_RECALL:
            best = (threshold, recall, precision)
    return best


def train(examples: Sequence[Example], encoder: MiniLmEncoder) -> tuple[dict[str, Any], str]:
    """Fit the heads; return them as plain lists and a one-line summary."""
    # The detector skips messages that are all idiom; they are left out here too.
    examples = [example for example in examples if model_input(example.text)]
    x = np.stack([encoder.encode(model_input(example.text)) for example in examples])
    x = x.astype(np.float64)
    levels = np.array([list(CrisisLevel).index(example.level) for example in examples])
    urgent = levels >= list(CrisisLevel).index(CrisisLevel.HIGH)
    threshold, cv_recall, cv_precision = _pick_threshold(x, urgent)
    urgent_model = _fit(x, urgent, C_URGENT)
    level_model = _fit(x, levels, C_LEVEL)
    category_coef, category_intercept = [], []
    for category in CrisisCategory:
        has = np.array([category in example.categories for example in examples])
        model = _fit(x, has, C_CATEGORY)
        category_coef.append(model.coef_[0].round(6).tolist())
        category_intercept.append(round(float(model.intercept_[0]), 6))
    heads = {
        "urgent": {
            "coef": urgent_model.coef_[0].round(6).tolist(),
            "intercept": round(float(urgent_model.intercept_[0]), 6),
            "threshold": threshold,
        },
        "level": {
            "coef": level_model.coef_.round(6).tolist(),
            "intercept": level_model.intercept_.round(6).tolist(),
        },
        "categories": {"coef": category_coef, "intercept": category_intercept},
        "trained_on": {"messages": len(examples), "urgent": int(urgent.sum())},
    }
    summary = (
        f"{len(examples)} messages ({int(urgent.sum())} HIGH/CRITICAL); urgent threshold "
        f"{threshold:.2f}: {FOLDS}-fold CV recall {cv_recall:.3f}, precision {cv_precision:.3f}"
    )
    return heads, summary


def main(argv: Sequence[str] | None = None) -> int:
    """Train on ``TRAINING_SETS`` and write the weights (path: first argument, optional)."""
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0]) if args else DEFAULT_WEIGHTS
    heads, summary = train(_load(TRAINING_SETS), MiniLmEncoder())
    out.write_text(heads_to_json(heads) + "\n", encoding="utf-8")
    print(f"wrote {out}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
