"""Measure a detector on a labelled JSONL set and gate on HIGH+CRITICAL quality.

Usage::

    python -m services.safety.evaluate [--detector composite|rules|model] [path]

The default detector is ``composite`` (rules and model, as the service runs them); the
default path is ``tests/safety/eval_set.jsonl``.

Each line is ``{"text": ..., "level": "NONE|LOW|MEDIUM|HIGH|CRITICAL", "categories":
[...]}`` (extra keys such as ``group`` are ignored). The report gives precision and recall
per level (one level against the rest), for HIGH+CRITICAL combined (a message is positive
if labelled HIGH or CRITICAL, and predicted positive if the detector says HIGH or
CRITICAL), per category, and a confusion matrix. The exit status is 1 when the gate
fails: HIGH+CRITICAL recall below ``MIN_RECALL`` or precision below ``MIN_PRECISION``.

Parsing and scoring are pure; only ``main`` reads files and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.safety import EvalSetError
from services.safety.detector import Detector, RuleDetector
from services.safety.model import CrisisCategory, CrisisLevel

__all__ = [
    "MIN_PRECISION",
    "MIN_RECALL",
    "Example",
    "PrecisionRecall",
    "Report",
    "evaluate",
    "format_report",
    "main",
    "parse_examples",
]

MIN_RECALL = 0.97
MIN_PRECISION = 0.85
DEFAULT_PATH = Path("tests/safety/eval_set.jsonl")
DETECTORS = ("composite", "rules", "model")
_URGENT = frozenset({CrisisLevel.HIGH, CrisisLevel.CRITICAL})


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    text: str
    level: CrisisLevel
    categories: frozenset[CrisisCategory]


@dataclass(frozen=True)
class PrecisionRecall:
    """Counts for one positive class; ratios are 1.0 when their denominator is 0."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def support(self) -> int:
        return self.true_positives + self.false_negatives


@dataclass(frozen=True)
class Report:
    """The outcome of one evaluation run."""

    total: int
    per_level: dict[CrisisLevel, PrecisionRecall]
    urgent: PrecisionRecall
    per_category: dict[CrisisCategory, PrecisionRecall]
    confusion: dict[tuple[CrisisLevel, CrisisLevel], int]  # (labelled, predicted) -> count
    misses: tuple[tuple[Example, CrisisLevel], ...]  # urgent messages predicted below HIGH
    false_alarms: tuple[tuple[Example, CrisisLevel], ...]  # predicted urgent, labelled below

    @property
    def passed(self) -> bool:
        return self.urgent.recall >= MIN_RECALL and self.urgent.precision >= MIN_PRECISION

    @property
    def exact_accuracy(self) -> float:
        hits = sum(n for (label, pred), n in self.confusion.items() if label is pred)
        return hits / self.total if self.total else 1.0


def _parse_line(number: int, line: str) -> Example:
    try:
        row = json.loads(line)
        text, level, categories = row["text"], row["level"], row.get("categories", [])
        if not isinstance(text, str) or not text:
            raise EvalSetError(f"line {number}: text must be a non-empty string")
        return Example(
            text=text,
            level=CrisisLevel[level],
            categories=frozenset(CrisisCategory[c.upper()] for c in categories),
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise EvalSetError(f"line {number}: {error!r}") from error


def parse_examples(lines: Iterable[str]) -> list[Example]:
    """Parse JSONL lines; blank lines are skipped. Raises ``EvalSetError``."""
    return [_parse_line(n, line) for n, line in enumerate(lines, 1) if line.strip()]


def _pr(pairs: Sequence[tuple[bool, bool]]) -> PrecisionRecall:
    """``pairs`` are (actual positive, predicted positive)."""
    return PrecisionRecall(
        true_positives=sum(1 for a, p in pairs if a and p),
        false_positives=sum(1 for a, p in pairs if p and not a),
        false_negatives=sum(1 for a, p in pairs if a and not p),
    )


def evaluate(examples: Sequence[Example], detector: Detector) -> Report:
    """Run ``detector`` on every example and score it."""
    results = [(ex, detector.analyze(ex.text)) for ex in examples]
    predicted = [(ex, an.level) for ex, an in results]
    per_level = {
        level: _pr([(ex.level is level, pred is level) for ex, pred in predicted])
        for level in CrisisLevel
    }
    urgent = _pr([(ex.level in _URGENT, pred in _URGENT) for ex, pred in predicted])
    per_category = {
        cat: _pr([(cat in ex.categories, cat in an.categories) for ex, an in results])
        for cat in CrisisCategory
    }
    return Report(
        total=len(examples),
        per_level=per_level,
        urgent=urgent,
        per_category=per_category,
        confusion=dict(Counter((ex.level, pred) for ex, pred in predicted)),
        misses=tuple((ex, p) for ex, p in predicted if ex.level in _URGENT and p not in _URGENT),
        false_alarms=tuple(
            (ex, p) for ex, p in predicted if p in _URGENT and ex.level not in _URGENT
        ),
    )


def _pr_row(name: str, pr: PrecisionRecall) -> str:
    return f"{name:<20} {pr.precision:>9.3f} {pr.recall:>7.3f} {pr.support:>8}"


def format_report(report: Report) -> str:
    """Render ``report`` as a plain-text table."""
    lines = [f"messages: {report.total}", "", f"{'class':<20} {'precision':>9} "
             f"{'recall':>7} {'support':>8}"]  # fmt: skip
    lines += [_pr_row(level.name, pr) for level, pr in report.per_level.items()]
    lines.append(_pr_row("HIGH+CRITICAL", report.urgent))
    lines += ["", f"{'category':<20} {'precision':>9} {'recall':>7} {'support':>8}"]
    lines += [_pr_row(cat.name.lower(), pr) for cat, pr in report.per_category.items()]
    lines += ["", "confusion (rows: labelled, columns: predicted)"]
    lines.append(" " * 10 + "".join(f"{level.name:>9}" for level in CrisisLevel))
    for label in CrisisLevel:
        counts = "".join(f"{report.confusion.get((label, p), 0):>9}" for p in CrisisLevel)
        lines.append(f"{label.name:<10}{counts}")
    lines.append(f"\nexact level accuracy: {report.exact_accuracy:.3f}")
    for title, rows in (("missed HIGH+", report.misses), ("false HIGH+", report.false_alarms)):
        lines += [f"\n{title} ({len(rows)}):"]
        lines += [f"  [{ex.level.name} -> {p.name}] {ex.text}" for ex, p in rows]
    verdict = "PASS" if report.passed else "FAIL"
    lines.append(
        f"\ngate {verdict}: HIGH+CRITICAL recall {report.urgent.recall:.3f} "
        f"(min {MIN_RECALL}), precision {report.urgent.precision:.3f} (min {MIN_PRECISION})"
    )
    return "\n".join(lines)


def _detector(name: str) -> Detector:
    # Imported here so that ``--detector rules`` needs neither numpy nor the model.
    if name == "rules":
        return RuleDetector()
    from services.safety.classifier import ModelDetector, default_detector

    return ModelDetector() if name == "model" else default_detector()


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate the chosen detector (default: composite) on the file named in ``argv``."""
    parser = argparse.ArgumentParser(prog="python -m services.safety.evaluate")
    parser.add_argument("--detector", choices=DETECTORS, default="composite")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    with args.path.open(encoding="utf-8") as handle:
        examples = parse_examples(handle)
    report = evaluate(examples, _detector(args.detector))
    print(format_report(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
