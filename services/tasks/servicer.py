"""TaskService: enqueue, inspect, cancel and retry tasks; workers live in ``worker.py``."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeAlias

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio
from lilo.tasks.v1 import tasks_service_pb2 as pb
from lilo.tasks.v1 import tasks_service_pb2_grpc as pb_grpc

from mesh import context
from mesh.clock import Clock, SystemClock
from mesh.status import InvalidArgument, NotFound
from services.tasks import logic
from services.tasks.store import AttemptRow, TaskRow, TaskStore

Ctx: TypeAlias = "aio.ServicerContext[Any, Any]"


def _ts(value: dt.datetime | None) -> Timestamp | None:
    if value is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(dt.UTC).replace(tzinfo=None))
    return ts


def _dt(ts: Timestamp) -> dt.datetime:
    return ts.ToDatetime(tzinfo=dt.UTC)


def task_pb(row: TaskRow) -> pb.Task:
    payload = Struct()
    payload.update(row.payload)
    show_next = row.state in (logic.PENDING, logic.FAILED_RETRYING)
    return pb.Task(
        task_id=str(row.task_id),
        type=row.type,  # type: ignore[arg-type]
        user_id=row.user_id,
        payload=payload,
        priority=row.priority,  # type: ignore[arg-type]
        state=row.state,  # type: ignore[arg-type]
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        last_error=row.last_error,
        due_at=_ts(row.due_at),
        next_attempt_at=_ts(row.next_attempt_at) if show_next else None,
        created_at=_ts(row.created_at),
        started_at=_ts(row.started_at),
        finished_at=_ts(row.finished_at),
        idempotency_key=row.idempotency_key,
    )


def attempt_pb(row: AttemptRow) -> pb.TaskAttempt:
    return pb.TaskAttempt(
        number=row.number,
        started_at=_ts(row.started_at),
        finished_at=_ts(row.finished_at),
        error=row.error,
    )


def _visible() -> frozenset[str] | None:
    call = context.current()
    decision = getattr(getattr(call, "admission", None), "decision", None)
    return getattr(decision, "visible_residents", None)


def _users(user_id: str) -> list[str] | None:
    """The users a listing may show: the named one (if visible), else every visible one."""
    visible = _visible()
    if user_id:
        return [user_id] if visible is None or user_id in visible else []
    return sorted(visible) if visible is not None else None


class TaskServicer(pb_grpc.TaskServiceServicer):
    def __init__(self, store: TaskStore, clock: Clock | None = None) -> None:
        self.store = store
        self.clock = clock or SystemClock()

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.wall(), dt.UTC)

    async def _task(self, task_id: str) -> TaskRow:
        row = await self.store.get(logic.parse_task_id(task_id))
        visible = _visible()
        if row is None or (visible is not None and row.user_id not in visible):
            raise NotFound(f"task {task_id} not found")
        return row

    async def EnqueueTask(
        self, request: pb.EnqueueTaskRequest, context: Ctx
    ) -> pb.EnqueueTaskResponse:
        new = logic.validate_enqueue(request)
        now = self._now()
        due = _dt(request.due_at) if request.HasField("due_at") else now
        payload = json_format.MessageToDict(request.payload) if request.HasField("payload") else {}
        row, dedup = await self.store.enqueue(new, payload, due, now)
        return pb.EnqueueTaskResponse(task=task_pb(row), deduplicated=dedup)

    async def GetTask(self, request: pb.GetTaskRequest, context: Ctx) -> pb.GetTaskResponse:
        return pb.GetTaskResponse(task=task_pb(await self._task(request.task_id)))

    async def ListTasks(self, request: pb.ListTasksRequest, context: Ctx) -> pb.ListTasksResponse:
        size = logic.page_size(request.page_size)
        states = logic.enum_filter(list(request.states), list(pb.TaskState.values()), "states")
        types = logic.enum_filter(list(request.types), list(pb.TaskType.values()), "types")
        scope = f"{request.user_id}|{states}|{types}"
        rows, token = await self._page(
            "tasks", scope, request.page_token, size, request.user_id, states, types, dead=False
        )
        return pb.ListTasksResponse(tasks=[task_pb(r) for r in rows], next_page_token=token)

    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: Ctx
    ) -> pb.ListDeadLettersResponse:
        size = logic.page_size(request.page_size)
        types = logic.enum_filter(list(request.types), list(pb.TaskType.values()), "types")
        scope = f"{request.user_id}|{types}"
        rows, token = await self._page(
            "dead", scope, request.page_token, size, request.user_id, [], types, dead=True
        )
        letters = [
            pb.DeadLetter(
                task=task_pb(r),
                attempts=[attempt_pb(a) for a in await self.store.failed_attempts(r)],
            )
            for r in rows
        ]
        return pb.ListDeadLettersResponse(dead_letters=letters, next_page_token=token)

    async def _page(
        self,
        kind: str,
        scope: str,
        page_token: str,
        size: int,
        user_id: str,
        states: list[int],
        types: list[int],
        *,
        dead: bool,
    ) -> tuple[list[TaskRow], str]:
        users = _users(user_id)
        if users == []:
            return [], ""
        after = None
        if page_token:
            at, tid = logic.decode_token(page_token, kind, scope)
            try:
                after = (dt.datetime.fromisoformat(at), logic.parse_task_id(tid))
            except (ValueError, InvalidArgument):
                raise InvalidArgument("page_token is malformed") from None
        rows = await self.store.list_tasks(
            user_ids=users, states=states, types=types, after=after, limit=size + 1, dead_only=dead
        )
        token = ""
        if len(rows) > size:
            last = rows[size - 1]
            key = last.finished_at if dead else last.created_at
            assert key is not None
            token = logic.encode_token(kind, scope, [key.isoformat(), str(last.task_id)])
        return rows[:size], token

    async def CancelTask(
        self, request: pb.CancelTaskRequest, context: Ctx
    ) -> pb.CancelTaskResponse:
        task = await self._task(request.task_id)
        now = self._now()

        def decide(row: TaskRow) -> dict[str, Any] | None:
            logic.require_transition(row.state, logic.CANCELLED, "cancel")
            if row.state == logic.CANCELLED:
                return None
            return {
                "state": logic.CANCELLED,
                "finished_at": now,
                "next_attempt_at": None,
                "cancel_reason": request.reason[:500],
            }

        row = await self.store.change(task.task_id, decide)
        assert row is not None
        return pb.CancelTaskResponse(task=task_pb(row))

    async def RetryDeadLetter(
        self, request: pb.RetryDeadLetterRequest, context: Ctx
    ) -> pb.RetryDeadLetterResponse:
        task = await self._task(request.task_id)
        now = self._now()
        due = _dt(request.due_at) if request.HasField("due_at") else now

        def decide(row: TaskRow) -> dict[str, Any] | None:
            logic.require_transition(row.state, logic.PENDING, "retry")
            return {
                "state": logic.PENDING,
                "attempts": 0,
                "generation": row.generation + 1,
                "max_attempts": logic.max_attempts(request.max_attempts, default=row.max_attempts),
                "due_at": due,
                "next_attempt_at": due,
                "finished_at": None,
                "started_at": None,
                "last_error": "",
                "claimed_by": "",
            }

        row = await self.store.change(task.task_id, decide)
        assert row is not None
        return pb.RetryDeadLetterResponse(task=task_pb(row))
