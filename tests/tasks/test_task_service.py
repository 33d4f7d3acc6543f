"""TaskService through a real grpc.aio server with the real access controller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.tasks.v1 import tasks_service_pb2 as pb
from lilo.tasks.v1 import tasks_service_pb2_grpc as pb_grpc

from mesh.clock import FakeClock
from mesh.testing import TestIdentity, serve
from services.tasks.logic import Backoff
from services.tasks.servicer import TaskServicer
from services.tasks.store import TaskStore
from services.tasks.worker import Worker, WorkerConfig

MD = list[tuple[str, str]]


@dataclass
class Env:
    stub: pb_grpc.TaskServiceStub
    ident: TestIdentity
    store: TaskStore
    clock: FakeClock

    def staff(self) -> MD:
        return self.ident.bearer(
            "care_staff", "staff-1", relations=[("res-1", "caregiver", "full")]
        )

    def admin(self) -> MD:
        return self.ident.bearer("admin", "admin-1")


@pytest.fixture
async def env(task_pool: asyncpg.Pool, clock: FakeClock) -> AsyncIterator[Env]:
    ident = TestIdentity()
    store = TaskStore(task_pool)
    async with (
        serve([TaskServicer(store, clock)], access=ident.access) as server,
        aio.insecure_channel(server.address) as channel,
    ):
        yield Env(pb_grpc.TaskServiceStub(channel), ident, store, clock)


async def test_enqueue_get_list_and_cancel(env: Env) -> None:
    md = env.staff()
    due = Timestamp(seconds=int(env.clock.wall()) + 600)
    made = []
    for i in range(3):
        resp = await env.stub.EnqueueTask(
            pb.EnqueueTaskRequest(
                type=pb.TASK_TYPE_MEDICATION_REMINDER, user_id="res-1", due_at=due,
                payload={"medication": "aspirin", "n": i}, idempotency_key=f"k{i}",
            ),
            metadata=md,
        )  # fmt: skip
        made.append(resp.task.task_id)
        env.clock.advance(1)
        assert resp.task.state == pb.TASK_STATE_PENDING
        assert resp.task.priority == pb.TASK_PRIORITY_MEDIUM and resp.task.max_attempts == 5
        assert resp.task.payload["medication"] == "aspirin"
    again = await env.stub.EnqueueTask(
        pb.EnqueueTaskRequest(
            type=pb.TASK_TYPE_MEDICATION_REMINDER, user_id="res-1", idempotency_key="k0"
        ),
        metadata=md,
    )
    assert again.deduplicated and again.task.task_id == made[0]

    page1 = await env.stub.ListTasks(pb.ListTasksRequest(user_id="res-1", page_size=2), metadata=md)
    page2 = await env.stub.ListTasks(
        pb.ListTasksRequest(user_id="res-1", page_size=2, page_token=page1.next_page_token),
        metadata=md,
    )
    assert [t.task_id for t in [*page1.tasks, *page2.tasks]] == made[::-1]  # newest first
    assert page2.next_page_token == ""

    own = await env.stub.GetTask(
        pb.GetTaskRequest(task_id=made[1]), metadata=env.ident.bearer("resident", "res-1")
    )
    assert own.task.task_id == made[1]

    cancelled = await env.stub.CancelTask(
        pb.CancelTaskRequest(task_id=made[1], reason="discharged"), metadata=md
    )
    assert cancelled.task.state == pb.TASK_STATE_CANCELLED
    assert not cancelled.task.HasField("next_attempt_at")
    twice = await env.stub.CancelTask(pb.CancelTaskRequest(task_id=made[1]), metadata=md)
    assert twice.task.state == pb.TASK_STATE_CANCELLED


async def test_cancel_finished_task_is_failed_precondition(env: Env) -> None:
    md = env.staff()
    resp = await env.stub.EnqueueTask(
        pb.EnqueueTaskRequest(type=pb.TASK_TYPE_WELLNESS_CHECK, user_id="res-1"), metadata=md
    )
    [outcome] = await Worker(env.store, clock=env.clock).run_once()  # default handlers
    assert outcome.state == pb.TASK_STATE_SUCCEEDED
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.CancelTask(pb.CancelTaskRequest(task_id=resp.task.task_id), metadata=md)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_dead_letters_listed_and_retried(env: Env) -> None:
    md = env.staff()
    resp = await env.stub.EnqueueTask(
        pb.EnqueueTaskRequest(type=pb.TASK_TYPE_CRISIS_FOLLOWUP, user_id="res-1", max_attempts=2),
        metadata=md,
    )

    async def broken(task: object) -> dict[str, object]:
        raise RuntimeError("care team unreachable")

    w = Worker(
        env.store,
        {pb.TASK_TYPE_CRISIS_FOLLOWUP: broken},
        clock=env.clock,
        config=WorkerConfig(backoff=Backoff(base=1)),
    )
    await w.run_once()
    env.clock.advance(1)
    await w.run_once()
    dead = await env.stub.ListDeadLetters(
        pb.ListDeadLettersRequest(user_id="res-1"), metadata=env.admin()
    )
    [letter] = dead.dead_letters
    assert letter.task.task_id == resp.task.task_id and letter.task.state == pb.TASK_STATE_DEAD
    assert [a.number for a in letter.attempts] == [1, 2]
    assert "care team unreachable" in letter.attempts[0].error

    retried = await env.stub.RetryDeadLetter(
        pb.RetryDeadLetterRequest(task_id=resp.task.task_id, max_attempts=4), metadata=env.admin()
    )
    assert retried.task.state == pb.TASK_STATE_PENDING
    assert (retried.task.attempts, retried.task.max_attempts) == (0, 4)
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.RetryDeadLetter(
            pb.RetryDeadLetterRequest(task_id=resp.task.task_id), metadata=env.admin()
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    [outcome] = await Worker(env.store, clock=env.clock).run_once()
    assert outcome.state == pb.TASK_STATE_SUCCEEDED and outcome.attempt == 1


async def test_bad_input_names_the_field(env: Env) -> None:
    md = env.staff()
    cases = [
        (env.stub.EnqueueTask, pb.EnqueueTaskRequest(user_id="res-1"), "type"),
        (
            env.stub.EnqueueTask,
            pb.EnqueueTaskRequest(type=1, user_id="res-1", max_attempts=50),
            "max_attempts",
        ),
        (env.stub.GetTask, pb.GetTaskRequest(task_id="not-a-uuid"), "task_id"),
        (
            env.stub.ListTasks,
            pb.ListTasksRequest(user_id="res-1", page_token="garbage!"),
            "page_token",
        ),
        (env.stub.ListTasks, pb.ListTasksRequest(user_id="res-1", states=[42]), "states"),
    ]
    for method, request, field in cases:
        with pytest.raises(aio.AioRpcError) as err:
            await method(request, metadata=md)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in (err.value.details() or "")


async def test_permissions(env: Env) -> None:
    resp = await env.stub.EnqueueTask(
        pb.EnqueueTaskRequest(type=pb.TASK_TYPE_WELLNESS_CHECK, user_id="res-1"),
        metadata=env.staff(),
    )
    family = env.ident.bearer("family_member", "fam-1", relations=[("res-1", "family", "full")])
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.EnqueueTask(
            pb.EnqueueTaskRequest(type=pb.TASK_TYPE_WELLNESS_CHECK, user_id="res-1"),
            metadata=family,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Staff for another resident: admitted to GetTask, but this task is not theirs to see.
    other = env.ident.bearer("care_staff", "staff-2", relations=[("res-2", "caregiver", "full")])
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.GetTask(pb.GetTaskRequest(task_id=resp.task.task_id), metadata=other)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.GetTask(
            pb.GetTaskRequest(task_id=resp.task.task_id),
            metadata=env.ident.bearer("resident", "res-2"),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # A resident may read but not enqueue, and care staff may not manage dead letters.
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.EnqueueTask(
            pb.EnqueueTaskRequest(type=pb.TASK_TYPE_WELLNESS_CHECK, user_id="res-1"),
            metadata=env.ident.bearer("resident", "res-1"),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(aio.AioRpcError) as err:
        await env.stub.ListDeadLetters(
            pb.ListDeadLettersRequest(user_id="res-1"), metadata=env.staff()
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
