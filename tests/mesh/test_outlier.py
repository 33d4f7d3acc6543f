"""OutlierDetector: consecutive-failure ejection, growing ejection time, ejection cap."""

from __future__ import annotations

import pytest

from mesh.balancing import Endpoint
from mesh.breaker import OutlierConfig, OutlierDetector
from mesh.clock import FakeClock
from mesh.errors import ConfigError


def detector(n: int = 4, **cfg: float) -> tuple[OutlierDetector, FakeClock]:
    clock = FakeClock()
    d = OutlierDetector(OutlierConfig(**cfg), clock=clock)  # type: ignore[arg-type]
    d.set_endpoints(f"e{i}" for i in range(n))
    return d, clock


def fail(d: OutlierDetector, key: str, times: int) -> list[bool]:
    return [d.record(key, ok=False) for _ in range(times)]


def test_ejects_after_consecutive_failures_only() -> None:
    d, _ = detector(consecutive_failures=3)
    assert fail(d, "e0", 2) == [False, False]
    d.record("e0", ok=True)  # breaks the streak
    assert fail(d, "e0", 2) == [False, False]
    assert d.ejected() == frozenset()
    assert fail(d, "e0", 1) == [True]
    assert d.ejected() == {"e0"} and d.is_ejected("e0")


def test_ejection_lasts_base_time_times_ejections_capped() -> None:
    d, clock = detector(consecutive_failures=1, base_ejection_time_s=10, max_ejection_time_s=25)
    durations = []
    for _ in range(4):
        assert d.record("e0", ok=False)
        until = d.ejected_until("e0")
        assert until is not None
        durations.append(until - clock.now())
        clock.advance(until - clock.now())
        assert not d.is_ejected("e0")
    assert durations == [10, 20, 25, 25]


def test_returns_to_rotation_after_the_ejection_time() -> None:
    d, clock = detector(consecutive_failures=2, base_ejection_time_s=30)
    fail(d, "e1", 2)
    eps = [Endpoint(f"e{i}", f"h:{i}") for i in range(4)]
    assert [e.key for e in d.admitted(eps)] == ["e0", "e2", "e3"]
    clock.advance(29.9)
    assert d.is_ejected("e1")
    clock.advance(0.1)
    assert [e.key for e in d.admitted(eps)] == ["e0", "e1", "e2", "e3"]
    # A fresh streak is needed to eject it again.
    assert fail(d, "e1", 1) == [False]


def test_never_ejects_more_than_max_ejection_percent() -> None:
    d, clock = detector(n=4, consecutive_failures=1, max_ejection_percent=50)
    assert [d.record(k, ok=False) for k in ("e0", "e1", "e2", "e3")] == [True, True, False, False]
    assert d.ejected() == {"e0", "e1"}
    clock.advance(30)  # e0 and e1 come back; e2 is ejected on its next failure
    assert d.record("e2", ok=False)
    assert d.ejected() == {"e2"}


def test_percentage_rounds_down() -> None:
    d, _ = detector(n=3, consecutive_failures=1, max_ejection_percent=50)
    assert [d.record(k, ok=False) for k in ("e0", "e1")] == [True, False]
    d2, _ = detector(n=5, consecutive_failures=1, max_ejection_percent=10)
    assert not d2.record("e0", ok=False)  # 10% of 5 is less than one endpoint


def test_results_while_ejected_are_ignored() -> None:
    d, clock = detector(consecutive_failures=2, base_ejection_time_s=10)
    fail(d, "e0", 2)
    assert fail(d, "e0", 5) == [False] * 5
    clock.advance(10)
    assert fail(d, "e0", 1) == [False]  # the in-flight failures did not pre-load a streak


def test_ejection_multiplier_decays_while_healthy() -> None:
    d, clock = detector(
        consecutive_failures=1, base_ejection_time_s=10, max_ejection_time_s=100, decay_interval_s=5
    )
    for _ in range(3):
        d.record("e0", ok=False)
        clock.advance(1000)  # back in rotation; long healthy stretches decay the multiplier
    d.record("e0", ok=False)
    until = d.ejected_until("e0")
    assert until is not None and until - clock.now() == 10


def test_forgets_endpoints_that_leave() -> None:
    d, _ = detector(consecutive_failures=1)
    fail(d, "e0", 1)
    d.set_endpoints(["e1", "e2", "e3", "e4"])
    assert d.ejected() == frozenset()


def test_config_validation() -> None:
    with pytest.raises(ConfigError):
        OutlierConfig(max_ejection_percent=150)
    with pytest.raises(ConfigError):
        OutlierConfig(consecutive_failures=0)
