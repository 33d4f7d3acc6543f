"""``python -m services.tasks``: TaskService plus a worker loop in the same process."""

import asyncio
import os
from pathlib import Path

from mesh.runner import ServiceDeps, run
from services.tasks.servicer import TaskServicer
from services.tasks.store import TaskStore
from services.tasks.worker import Worker

_background: set[asyncio.Task[None]] = set()


async def build(deps: ServiceDeps) -> list[object]:
    assert deps.db is not None
    store = TaskStore(deps.db)
    if os.environ.get("LILO_TASKS_WORKER", "1") != "0":
        worker = Worker(store, clock=deps.clock)
        task = asyncio.get_running_loop().create_task(worker.run(asyncio.Event()))
        _background.add(task)  # keep a reference: the loop holds tasks weakly
    return [TaskServicer(store, deps.clock)]


if __name__ == "__main__":
    run(
        "tasks",
        build,
        default_port=8086,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
    )
