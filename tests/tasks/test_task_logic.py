"""Pure task rules: backoff, failure verdicts, the state table, validation."""

from __future__ import annotations

import random

import pytest
from lilo.tasks.v1 import tasks_service_pb2 as pb

from mesh.status import FailedPrecondition, InvalidArgument
from services.tasks import logic


def test_backoff_doubles_and_caps() -> None:
    b = logic.Backoff(base=10, factor=2, cap=60)
    assert [b.delay(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]


def test_backoff_jitter_only_shortens_and_is_seeded() -> None:
    b = logic.Backoff(base=100, jitter=0.5)
    delays = [b.delay(1, random.Random(7)) for _ in range(3)]
    assert len(set(delays)) == 1  # same seed, same delay
    assert 50 <= delays[0] <= 100


def test_failure_retries_until_max_attempts_then_dead() -> None:
    b = logic.Backoff()
    assert logic.after_failure(1, 3, b) == logic.AfterFailure(logic.FAILED_RETRYING, 10.0)
    assert logic.after_failure(3, 3, b) == logic.AfterFailure(logic.DEAD, None)
    assert logic.after_failure(1, 3, b, permanent=True).state == logic.DEAD
    assert logic.after_lapsed_lease(1, 3) == logic.AfterFailure(logic.FAILED_RETRYING, 0.0)
    assert logic.after_lapsed_lease(3, 3).state == logic.DEAD


def test_state_table() -> None:
    assert logic.can_transition(logic.PENDING, logic.CANCELLED)
    assert logic.can_transition(logic.CANCELLED, logic.CANCELLED)
    assert logic.can_transition(logic.DEAD, logic.PENDING)
    assert not logic.can_transition(logic.SUCCEEDED, logic.CANCELLED)
    assert not logic.can_transition(logic.RUNNING, logic.CANCELLED)
    with pytest.raises(FailedPrecondition, match="TASK_STATE_SUCCEEDED"):
        logic.require_transition(logic.SUCCEEDED, logic.CANCELLED, "cancel")


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.EnqueueTaskRequest(user_id="u"), "type"),
        (pb.EnqueueTaskRequest(type=99, user_id="u"), "type"),
        (pb.EnqueueTaskRequest(type=1), "user_id"),
        (pb.EnqueueTaskRequest(type=1, user_id="u", max_attempts=21), "max_attempts"),
        (pb.EnqueueTaskRequest(type=1, user_id="u", priority=9), "priority"),
        (pb.EnqueueTaskRequest(type=1, user_id="u", idempotency_key="k" * 201), "idempotency_key"),
    ],
)
def test_enqueue_validation_names_the_field(request_: pb.EnqueueTaskRequest, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        logic.validate_enqueue(request_)


def test_enqueue_defaults() -> None:
    new = logic.validate_enqueue(pb.EnqueueTaskRequest(type=1, user_id="u"))
    assert (new.priority, new.max_attempts) == (pb.TASK_PRIORITY_MEDIUM, 5)
