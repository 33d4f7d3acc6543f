"""The evaluation gate, the set's composition and the evaluator's arithmetic."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from services.safety import EvalSetError
from services.safety.detector import RuleDetector
from services.safety.evaluate import (
    MIN_PRECISION,
    MIN_RECALL,
    PrecisionRecall,
    evaluate,
    format_report,
    main,
    parse_examples,
)
from services.safety.model import Analysis, CrisisLevel, make_analysis

HERE = Path(__file__).parent
EVAL_SET = HERE / "eval_set.jsonl"
HARD_GROUPS = {"idiom", "negation", "reported_speech", "second_person", "medical_talk"}


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_eval_set_meets_the_brief() -> None:
    data = rows(EVAL_SET)
    levels = Counter(str(row["level"]) for row in data)
    assert len(data) >= 320
    assert levels["HIGH"] + levels["CRITICAL"] >= 90
    assert sum(1 for row in data if row.get("group") in HARD_GROUPS) >= 100
    assert len({row["text"] for row in data}) == len(data), "duplicate texts"


def test_gate_on_the_eval_set() -> None:
    with EVAL_SET.open(encoding="utf-8") as handle:
        report = evaluate(parse_examples(handle), RuleDetector())
    assert report.urgent.recall >= MIN_RECALL, format_report(report)
    assert report.urgent.precision >= MIN_PRECISION, format_report(report)
    assert report.passed


def test_main_exit_status_follows_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    failing = tmp_path / "fail.jsonl"
    # A crisis phrased so that no rule knows it: recall 0, the gate must fail.
    failing.write_text(json.dumps({"text": "zzz", "level": "HIGH", "categories": []}) + "\n")
    assert main([str(failing)]) == 1
    assert "gate FAIL" in capsys.readouterr().out

    passing = tmp_path / "pass.jsonl"
    passing.write_text(
        json.dumps({"text": "I want to kill myself", "level": "HIGH", "categories": []}) + "\n"
    )
    assert main([str(passing)]) == 0
    assert "gate PASS" in capsys.readouterr().out


class ConstantDetector:
    def __init__(self, level: CrisisLevel) -> None:
        self.level = level

    def analyze(self, text: str) -> Analysis:
        return make_analysis(self.level, [], (), text, [])


def test_counts_precision_recall_and_confusion() -> None:
    examples = parse_examples(
        json.dumps({"text": t, "level": lvl, "categories": []})
        for t, lvl in [("a", "HIGH"), ("b", "CRITICAL"), ("c", "NONE"), ("d", "LOW")]
    )
    report = evaluate(examples, ConstantDetector(CrisisLevel.HIGH))
    # Everything predicted HIGH: both urgent messages found, two false alarms.
    assert report.urgent == PrecisionRecall(2, 2, 0)
    assert report.urgent.precision == 0.5
    assert report.urgent.recall == 1.0
    assert report.per_level[CrisisLevel.CRITICAL].recall == 0.0
    assert report.confusion[(CrisisLevel.NONE, CrisisLevel.HIGH)] == 1
    assert len(report.false_alarms) == 2
    assert not report.passed


def test_empty_denominators_count_as_perfect() -> None:
    assert PrecisionRecall(0, 0, 0).precision == 1.0
    assert PrecisionRecall(0, 0, 0).recall == 1.0


@pytest.mark.parametrize(
    "line",
    [
        "not json",
        json.dumps({"text": "x", "level": "SEVERE"}),
        json.dumps({"text": "x", "level": "LOW", "categories": ["unknown"]}),
        json.dumps({"level": "LOW"}),
        json.dumps({"text": "", "level": "LOW"}),
    ],
)
def test_malformed_lines_are_rejected(line: str) -> None:
    with pytest.raises(EvalSetError):
        parse_examples([line])
