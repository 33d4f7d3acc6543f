"""Retry decisions, full-jitter backoff, retry budget and hedging timing."""

from __future__ import annotations

import random

import grpc
import pytest
from lilo.crisis.v1 import crisis_service_pb2
from lilo.discovery.v1 import discovery_service_pb2

from mesh.errors import ConfigError
from mesh.retry import HedgingPolicy, RetryBudget, RetryPolicy, is_idempotent

U = grpc.StatusCode.UNAVAILABLE


def test_idempotent_method_is_retried_on_a_retryable_code() -> None:
    p = RetryPolicy(max_attempts=3)
    assert p.should_retry(1, U, idempotent=True, sent=True)
    assert p.should_retry(2, U, idempotent=True, sent=True)
    assert not p.should_retry(3, U, idempotent=True, sent=True)  # attempts exhausted


def test_non_idempotent_method_is_not_retried_once_sent() -> None:
    p = RetryPolicy(max_attempts=5)
    assert not p.should_retry(1, U, idempotent=False, sent=True)
    assert not p.should_retry(1, grpc.StatusCode.INTERNAL, idempotent=False, sent=True)


def test_a_request_that_was_never_sent_is_retried_whatever_the_method() -> None:
    p = RetryPolicy(max_attempts=2)
    assert p.should_retry(1, U, idempotent=False, sent=False)
    assert not p.should_retry(2, U, idempotent=False, sent=False)  # still bounded
    # Only UNAVAILABLE proves nothing was sent; other codes came from somewhere.
    assert not p.should_retry(1, grpc.StatusCode.INTERNAL, idempotent=False, sent=False)


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ],
)
def test_non_retryable_codes_are_not_retried_by_default(code: grpc.StatusCode) -> None:
    assert not RetryPolicy().should_retry(1, code, idempotent=True, sent=True)


def test_retryable_codes_are_configurable() -> None:
    p = RetryPolicy(retryable_codes=frozenset({grpc.StatusCode.ABORTED}))
    assert p.should_retry(1, grpc.StatusCode.ABORTED, idempotent=True, sent=True)
    assert not p.should_retry(1, U, idempotent=True, sent=True)


def test_backoff_is_full_jitter_under_a_growing_capped_ceiling() -> None:
    p = RetryPolicy(initial_backoff_s=0.1, multiplier=2.0, max_backoff_s=0.5)
    rng = random.Random(42)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (50, 0.5), (5000, 0.5)]:
        samples = [p.backoff_s(attempt, rng) for _ in range(2000)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.9 * ceiling  # the whole range is used...
        assert min(samples) < 0.1 * ceiling  # ...down to zero
        assert sum(samples) / len(samples) == pytest.approx(ceiling / 2, rel=0.1)
    with pytest.raises(ValueError):
        p.backoff_s(0, rng)


def test_policy_validation() -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigError):
        HedgingPolicy(max_hedges=-1)


def test_idempotency_comes_from_the_proto_option() -> None:
    discovery = discovery_service_pb2.DESCRIPTOR.services_by_name["DiscoveryService"]
    crisis = crisis_service_pb2.DESCRIPTOR.services_by_name["CrisisService"]
    assert is_idempotent(discovery.methods_by_name["Register"])  # IDEMPOTENT
    assert is_idempotent(discovery.methods_by_name["ListServices"])  # NO_SIDE_EFFECTS
    assert is_idempotent(crisis.methods_by_name["GetAlert"])
    assert not is_idempotent(crisis.methods_by_name["CreateAlert"])  # unspecified
    assert not is_idempotent(discovery.methods_by_name["WatchInstances"])  # streaming


def test_budget_caps_a_retry_storm_at_its_share_of_active_requests() -> None:
    budget = RetryBudget(budget_percent=20, min_retry_concurrency=3)
    for _ in range(100):
        budget.request_started()
    granted = sum(budget.try_acquire_retry() for _ in range(100))
    assert granted == 20
    assert budget.active_retries == 20
    assert not budget.try_acquire_retry()
    budget.retry_finished()
    assert budget.try_acquire_retry()
    assert not budget.try_acquire_retry()


def test_budget_allows_min_retry_concurrency_when_traffic_is_low() -> None:
    budget = RetryBudget(budget_percent=20, min_retry_concurrency=3)
    budget.request_started()
    assert [budget.try_acquire_retry() for _ in range(4)] == [True, True, True, False]


def test_budget_shrinks_as_requests_finish() -> None:
    budget = RetryBudget(budget_percent=50, min_retry_concurrency=0)
    for _ in range(10):
        budget.request_started()
    assert sum(budget.try_acquire_retry() for _ in range(10)) == 5
    for _ in range(8):
        budget.request_finished()
    for _ in range(5):
        budget.retry_finished()
    assert budget.limit() == 1
    assert [budget.try_acquire_retry() for _ in range(2)] == [True, False]
    for _ in range(5):
        budget.request_finished()  # never below zero
    assert budget.active_requests == 0


def test_hedges_are_spaced_by_the_delay_and_bounded() -> None:
    h = HedgingPolicy(delay_s=0.1, max_hedges=2)
    assert not h.should_send_hedge(0.099, last_sent_at=0.0, hedges_sent=0)
    assert h.should_send_hedge(0.1, last_sent_at=0.0, hedges_sent=0)
    assert h.next_hedge_at(0.1, hedges_sent=1) == pytest.approx(0.2)
    assert h.should_send_hedge(0.2, last_sent_at=0.1, hedges_sent=1)
    assert h.next_hedge_at(0.2, hedges_sent=2) is None
    assert not h.should_send_hedge(10.0, last_sent_at=0.2, hedges_sent=2)


def test_a_non_fatal_failure_sends_the_next_hedge_at_once() -> None:
    h = HedgingPolicy(delay_s=1.0, max_hedges=1)
    assert h.should_send_hedge(0.01, last_sent_at=0.0, hedges_sent=0, failed_code=U)
    assert not h.should_send_hedge(
        0.01, last_sent_at=0.0, hedges_sent=0, failed_code=grpc.StatusCode.INVALID_ARGUMENT
    )
    assert h.is_fatal(grpc.StatusCode.INVALID_ARGUMENT) and not h.is_fatal(U)
    assert not h.should_send_hedge(0.01, last_sent_at=0.0, hedges_sent=1, failed_code=U)


def test_hedging_applies_only_to_idempotent_unary_calls() -> None:
    assert HedgingPolicy.applies_to(idempotent=True)
    assert not HedgingPolicy.applies_to(idempotent=False)
    assert not HedgingPolicy.applies_to(idempotent=True, unary=False)
