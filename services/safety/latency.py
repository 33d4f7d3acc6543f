"""Time the service's detector: ``python -m services.safety.latency [path] [--rounds N]``.

Prints the model's load time, then per round the median and p99 of wall-clock and CPU
time per message over the set (default ``tests/safety/holdout_set.jsonl``), then one 16 KB
document. CPU time is shown because on a shared machine wall time mostly measures the
neighbours. Run it under the shared benchmark lock (``flock /tmp/lilo-bench.lock ...``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.safety.classifier import ModelDetector, default_detector
from services.safety.evaluate import parse_examples

DEFAULT_PATH = Path("tests/safety/holdout_set.jsonl")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.safety.latency")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    started = time.perf_counter()
    model = ModelDetector()
    model.warm_up()
    print(f"model load: {time.perf_counter() - started:.2f} s")
    detector = default_detector(model)
    texts = [ex.text for ex in parse_examples(args.path.read_text(encoding="utf-8").splitlines())]
    for round_number in range(args.rounds):
        wall: list[float] = []
        cpu: list[float] = []
        for text in texts:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            detector.analyze(text)
            wall.append((time.perf_counter() - wall_start) * 1000)
            cpu.append((time.process_time() - cpu_start) * 1000)
        print(
            f"round {round_number}: {len(texts)} messages, wall p50 "
            f"{statistics.median(wall):.1f} ms p99 {_p99(wall):.1f} ms, cpu p50 "
            f"{statistics.median(cpu):.1f} ms p99 {_p99(cpu):.1f} ms"
        )
    document = ("We went to the garden and had tea. " * 500)[:16000]
    wall_start = time.perf_counter()
    detector.analyze(document)
    print(f"one 16 KB document: {(time.perf_counter() - wall_start) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
