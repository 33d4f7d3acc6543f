"""Balancing policies: distributions, load awareness, affinity. Seeded rng, fake clock."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from mesh.balancing import (
    PICKER_NAMES,
    Endpoint,
    EwmaLatency,
    LeastRequest,
    Picker,
    RingHash,
    RoundRobin,
    WeightedRoundRobin,
    make_picker,
)
from mesh.clock import FakeClock
from mesh.errors import ConfigError, MeshError, NoEndpointsError


def eps(n: int, weights: list[int] | None = None) -> list[Endpoint]:
    ws = weights or [1] * n
    return [Endpoint(f"e{i}", f"10.0.0.{i}:50051", weight=ws[i]) for i in range(n)]


@pytest.mark.parametrize("name", PICKER_NAMES)
def test_every_policy_rejects_an_empty_list(name: str) -> None:
    picker = make_picker(name, clock=FakeClock(), rng=random.Random(1))
    assert isinstance(picker, Picker)
    with pytest.raises(NoEndpointsError) as info:
        picker.pick([], hash_key="k")
    assert isinstance(info.value, MeshError)


@pytest.mark.parametrize("name", PICKER_NAMES)
def test_every_policy_picks_only_given_endpoints(name: str) -> None:
    picker = make_picker(name, clock=FakeClock(), rng=random.Random(1))
    endpoints = eps(3)
    for i in range(50):
        e = picker.pick(endpoints, hash_key=f"user-{i}")
        assert e in endpoints
        picker.on_start(e)
        picker.on_finish(e, 0.01, True)


def test_unknown_policy_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="round_robin"):
        make_picker("random_please")


def test_round_robin_cycles_in_order() -> None:
    rr = RoundRobin()
    endpoints = eps(3)
    assert [rr.pick(endpoints).key for _ in range(7)] == ["e0", "e1", "e2"] * 2 + ["e0"]


def test_weighted_round_robin_is_exact_over_the_weight_sum() -> None:
    wrr = WeightedRoundRobin()
    endpoints = eps(3, [1, 2, 3])
    picks = [wrr.pick(endpoints).key for _ in range(600)]
    assert Counter(picks) == {"e0": 100, "e1": 200, "e2": 300}
    # Exact in every window of sum(weights) picks, not only in the total.
    for start in range(0, 600, 6):
        assert Counter(picks[start : start + 6]) == {"e0": 1, "e1": 2, "e2": 3}


def test_weighted_round_robin_interleaves_a_heavy_endpoint() -> None:
    wrr = WeightedRoundRobin()
    endpoints = eps(2, [5, 1])
    picks = [wrr.pick(endpoints).key for _ in range(6)]
    # Smooth: the light endpoint lands mid-cycle, not after five picks in a row of e0.
    assert picks.index("e1") not in (0, 5)
    assert picks.count("e1") == 1


def test_weighted_round_robin_skips_zero_weight_unless_all_are_zero() -> None:
    wrr = WeightedRoundRobin()
    assert {wrr.pick(eps(2, [0, 1])).key for _ in range(10)} == {"e1"}
    assert Counter(wrr.pick(eps(2, [0, 0])).key for _ in range(10)) == {"e0": 5, "e1": 5}


def test_weighted_round_robin_adapts_when_endpoints_change() -> None:
    wrr = WeightedRoundRobin()
    for _ in range(5):
        wrr.pick(eps(3, [1, 2, 3]))
    two = eps(2, [1, 1])
    assert Counter(wrr.pick(two).key for _ in range(10)) == {"e0": 5, "e1": 5}


def test_least_request_never_picks_the_most_loaded_of_three() -> None:
    lr = LeastRequest(rng=random.Random(7))
    endpoints = eps(3)
    for _ in range(10):
        lr.on_start(endpoints[0])
    counts = Counter(lr.pick(endpoints).key for _ in range(300))
    # Any pair containing e0 has a less loaded partner: e0 loses every comparison.
    assert counts["e0"] == 0
    assert counts["e1"] > 50 and counts["e2"] > 50


def test_least_request_follows_load_as_calls_finish() -> None:
    lr = LeastRequest(rng=random.Random(3))
    a, b = eps(2)
    lr.on_start(a)
    assert lr.pick([a, b]) == b  # two endpoints: both are always sampled
    lr.on_start(b)
    lr.on_start(b)
    assert lr.pick([a, b]) == a
    lr.on_finish(b, 0.1, True)
    lr.on_finish(b, 0.1, True)
    lr.on_finish(a, 0.1, True)
    lr.on_finish(a, 0.1, True)  # an unmatched finish must not go below zero
    assert lr.in_flight("a") == 0 and lr.in_flight("e0") == 0


def test_least_request_with_equal_load_spreads_calls() -> None:
    lr = LeastRequest(rng=random.Random(11))
    counts = Counter(lr.pick(eps(4)).key for _ in range(4000))
    assert all(800 < c < 1200 for c in counts.values()), counts


def drive(
    picker: EwmaLatency,
    clock: FakeClock,
    endpoints: list[Endpoint],
    latency: dict[str, float],
    n: int,
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for _ in range(n):
        e = picker.pick(endpoints)
        counts[e.key] += 1
        picker.on_start(e)
        clock.advance(0.01)
        picker.on_finish(e, latency[e.key], True)
    return counts


def test_ewma_steers_away_from_a_slow_endpoint() -> None:
    clock = FakeClock()
    ewma = EwmaLatency(clock=clock, rng=random.Random(5))
    endpoints = eps(3)
    latency = {"e0": 0.5, "e1": 0.01, "e2": 0.012}
    counts = drive(ewma, clock, endpoints, latency, 600)
    assert counts["e0"] < 30, counts  # under 5%
    assert ewma.latency_estimate(endpoints[0]) > ewma.latency_estimate(endpoints[1])


def test_ewma_is_peak_sensitive_and_decays_with_time() -> None:
    clock = FakeClock()
    ewma = EwmaLatency(clock=clock, rng=random.Random(1), decay_s=10.0)
    e = eps(1)[0]
    ewma.on_start(e)
    ewma.on_finish(e, 0.02, True)
    ewma.on_start(e)
    ewma.on_finish(e, 0.8, True)
    assert ewma.latency_estimate(e) == pytest.approx(0.8)  # one slow answer counts at once
    clock.advance(10.0)
    assert ewma.latency_estimate(e) == pytest.approx(0.8 / 2.718281828, rel=1e-6)
    # A fast answer after a long quiet spell mostly replaces the old average.
    clock.advance(40.0)
    ewma.on_start(e)
    ewma.on_finish(e, 0.02, True)
    assert 0.02 <= ewma.latency_estimate(e) < 0.04


def test_ewma_probes_an_avoided_endpoint_again_after_its_cost_decays() -> None:
    clock = FakeClock()
    ewma = EwmaLatency(clock=clock, rng=random.Random(2), decay_s=1.0)
    slow, fast = eps(2)
    for e, lat in ((slow, 1.0), (fast, 0.01)):
        ewma.on_start(e)
        ewma.on_finish(e, lat, True)
    assert ewma.pick([slow, fast]) == fast
    clock.advance(10.0)  # the slow endpoint has not been measured for a long time
    ewma.on_start(fast)
    ewma.on_finish(fast, 0.01, True)
    assert ewma.pick([slow, fast]) == slow


def test_ewma_counts_in_flight_calls() -> None:
    clock = FakeClock()
    ewma = EwmaLatency(clock=clock, rng=random.Random(2))
    a, b = eps(2)
    for e in (a, b):
        ewma.on_start(e)
        ewma.on_finish(e, 0.01, True)
    for _ in range(3):
        ewma.on_start(a)
    assert ewma.cost(a) == pytest.approx(4 * ewma.cost(b))
    assert ewma.pick([a, b]) == b


def test_ewma_gives_unknown_endpoints_a_neutral_prior() -> None:
    clock = FakeClock()
    ewma = EwmaLatency(clock=clock, rng=random.Random(2), default_rtt_s=0.05)
    a, b, new = eps(3)
    assert ewma.latency_estimate(new) == pytest.approx(0.05)
    for e, lat in ((a, 0.1), (b, 0.3)):
        ewma.on_start(e)
        ewma.on_finish(e, lat, True)
    # Neither favoured nor shunned: the mean of what is known.
    assert ewma.latency_estimate(new) == pytest.approx(0.2)
    assert ewma.pick([a, new]) == a
    assert ewma.pick([b, new]) == new


def test_ewma_does_not_reward_fast_failures() -> None:
    clock = FakeClock()
    ewma = EwmaLatency(clock=clock, rng=random.Random(2), failure_penalty_s=1.0)
    failing, healthy = eps(2)
    ewma.on_start(failing)
    ewma.on_finish(failing, 0.001, False)
    ewma.on_start(healthy)
    ewma.on_finish(healthy, 0.05, True)
    assert ewma.pick([failing, healthy]) == healthy


KEYS = [f"session-{i}" for i in range(2000)]


def test_ring_hash_keeps_a_key_on_one_endpoint() -> None:
    ring = RingHash()
    endpoints = eps(5)
    first = ring.pick(endpoints, hash_key="patient-42")
    assert all(ring.pick(endpoints, hash_key="patient-42") == first for _ in range(50))
    # Order of the list and other clients' rings do not matter.
    assert RingHash().pick(list(reversed(endpoints)), hash_key="patient-42") == first


def test_ring_hash_spreads_keys() -> None:
    ring = RingHash()
    counts = Counter(ring.pick(eps(4), hash_key=k).key for k in KEYS)
    assert all(300 < c < 700 for c in counts.values()), counts


def test_ring_hash_moves_only_the_removed_endpoints_keys() -> None:
    ring = RingHash()
    endpoints = eps(5)
    before = {k: ring.pick(endpoints, hash_key=k).key for k in KEYS}
    remaining = [e for e in endpoints if e.key != "e2"]
    after = {k: ring.pick(remaining, hash_key=k).key for k in KEYS}
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == "e2"}
    assert len(moved) < len(KEYS) * 0.35  # about a fifth
    # Bringing it back restores the original mapping exactly.
    assert {k: ring.pick(endpoints, hash_key=k).key for k in KEYS} == before


def test_ring_hash_adding_an_endpoint_only_takes_keys_for_itself() -> None:
    ring = RingHash()
    four = eps(5)[:4]
    before = {k: ring.pick(four, hash_key=k).key for k in KEYS}
    after = {k: ring.pick(eps(5), hash_key=k).key for k in KEYS}
    assert {after[k] for k in KEYS if before[k] != after[k]} == {"e4"}


def test_ring_hash_without_key_falls_back_to_round_robin() -> None:
    ring = RingHash()
    assert [ring.pick(eps(3)).key for _ in range(3)] == ["e0", "e1", "e2"]


def test_endpoint_validation() -> None:
    with pytest.raises(ConfigError):
        Endpoint("", "h:1")
    with pytest.raises(ConfigError):
        Endpoint("k", "h:1", weight=-1)


def test_ring_hash_honours_weight_ratios_without_blowing_up_the_ring() -> None:
    ring = RingHash()
    heavy = [Endpoint("a", "h:1", weight=300), Endpoint("b", "h:2", weight=100)]
    counts = Counter(ring.pick(heavy, hash_key=k).key for k in KEYS)
    assert 0.65 < counts["a"] / len(KEYS) < 0.85, counts
    assert len(ring._points) == 400  # weights normalised by their gcd: 3:1
    # Registry-style equal weights of 100 behave as weight 1.
    same = [Endpoint(f"e{i}", f"h:{i}", weight=100) for i in range(3)]
    plain = eps(3)
    assert all(ring.pick(same, hash_key=k).key == ring.pick(plain, hash_key=k).key for k in KEYS)
