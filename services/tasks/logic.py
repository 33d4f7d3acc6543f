"""Pure task rules: validation, the state table, backoff. No I/O; ``now`` is passed in."""

from __future__ import annotations

import base64
import binascii
import json
import random
import uuid
from dataclasses import dataclass

from lilo.tasks.v1 import tasks_service_pb2 as pb

from mesh.status import FailedPrecondition, InvalidArgument

PENDING = pb.TASK_STATE_PENDING
RUNNING = pb.TASK_STATE_RUNNING
SUCCEEDED = pb.TASK_STATE_SUCCEEDED
FAILED_RETRYING = pb.TASK_STATE_FAILED_RETRYING
DEAD = pb.TASK_STATE_DEAD
CANCELLED = pb.TASK_STATE_CANCELLED

DEFAULT_MAX_ATTEMPTS = 5
MAX_MAX_ATTEMPTS = 20
MAX_KEY = 200
DEFAULT_PAGE = 50
MAX_PAGE = 500

#: Every legal change of state. RUNNING -> RUNNING is a reclaim after a lapsed lease;
#: CANCELLED -> CANCELLED makes cancel idempotent; DEAD -> PENDING is RetryDeadLetter.
TRANSITIONS: dict[int, frozenset[int]] = {
    PENDING: frozenset({RUNNING, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED_RETRYING, DEAD, RUNNING}),
    FAILED_RETRYING: frozenset({RUNNING, CANCELLED}),
    DEAD: frozenset({PENDING}),
    SUCCEEDED: frozenset(),
    CANCELLED: frozenset({CANCELLED}),
}

CLAIMABLE = (PENDING, FAILED_RETRYING)


def can_transition(current: int, target: int) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def require_transition(current: int, target: int, action: str) -> None:
    if not can_transition(current, target):
        raise FailedPrecondition(f"cannot {action} a task in state {pb.TaskState.Name(current)}")


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1 after n failed: base * factor**(n-1), capped, with jitter.

    ``jitter`` is the fraction of the delay drawn at random (0 = deterministic); pass the
    random source so tests stay reproducible.
    """

    base: float = 10.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.0

    def delay(self, failed_attempts: int, rng: random.Random | None = None) -> float:
        raw = min(self.cap, self.base * self.factor ** max(0, failed_attempts - 1))
        if self.jitter and rng is not None:
            raw -= raw * self.jitter * rng.random()
        return raw


@dataclass(frozen=True)
class AfterFailure:
    state: int
    retry_in: float | None
    """Seconds until the next attempt; None when the task is dead."""


def after_failure(
    attempts: int, max_attempts: int, backoff: Backoff, *, permanent: bool = False,
    rng: random.Random | None = None,
) -> AfterFailure:  # fmt: skip
    """Where a failed attempt leaves the task: retry later, or dead when out of attempts."""
    if permanent or attempts >= max_attempts:
        return AfterFailure(DEAD, None)
    return AfterFailure(FAILED_RETRYING, backoff.delay(attempts, rng))


def after_lapsed_lease(attempts: int, max_attempts: int) -> AfterFailure:
    """A worker died mid-attempt: retry at once (it was no handler failure) unless exhausted.

    The lost attempt still counts, so a task that kills every worker ends up dead.
    """
    if attempts >= max_attempts:
        return AfterFailure(DEAD, None)
    return AfterFailure(FAILED_RETRYING, 0.0)


@dataclass(frozen=True)
class NewTask:
    type: int
    user_id: str
    priority: int
    max_attempts: int
    idempotency_key: str


def validate_enqueue(request: pb.EnqueueTaskRequest) -> NewTask:
    if request.type == pb.TASK_TYPE_UNSPECIFIED or request.type not in pb.TaskType.values():
        raise InvalidArgument("type must be a TaskType other than UNSPECIFIED")
    if not request.user_id:
        raise InvalidArgument("user_id is required")
    if request.priority not in pb.TaskPriority.values():
        raise InvalidArgument(f"priority {request.priority} is not a TaskPriority")
    if len(request.idempotency_key) > MAX_KEY:
        raise InvalidArgument(f"idempotency_key must be at most {MAX_KEY} characters")
    return NewTask(
        type=request.type,
        user_id=request.user_id,
        priority=request.priority or pb.TASK_PRIORITY_MEDIUM,
        max_attempts=max_attempts(request.max_attempts, default=DEFAULT_MAX_ATTEMPTS),
        idempotency_key=request.idempotency_key,
    )


def max_attempts(value: int, *, default: int) -> int:
    if value < 0 or value > MAX_MAX_ATTEMPTS:
        raise InvalidArgument(f"max_attempts must be between 0 and {MAX_MAX_ATTEMPTS}")
    return value or default


def parse_task_id(value: str) -> uuid.UUID:
    if not value:
        raise InvalidArgument("task_id is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(f"task_id must be a UUID, got {value[:64]!r}") from None


def enum_filter(values: list[int], valid: list[int], field: str) -> list[int]:
    for v in values:
        if v == 0 or v not in valid:
            raise InvalidArgument(f"{field} contains {v}, which is not a valid value")
    return sorted(set(values))


def page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument("page_size must not be negative")
    return min(value or DEFAULT_PAGE, MAX_PAGE)


def encode_token(kind: str, scope: str, position: list[str]) -> str:
    raw = json.dumps({"k": kind, "s": scope, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str, kind: str, scope: str) -> list[str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token is malformed") from None
    if not isinstance(data, dict) or data.get("k") != kind or data.get("s") != scope:
        raise InvalidArgument("page_token does not belong to this listing")
    position = data.get("p")
    if not isinstance(position, list) or len(position) != 2:
        raise InvalidArgument("page_token is malformed")
    return [str(p) for p in position]
