"""``python -m services.crisis``: the crisis service with its escalator worker.

Needs DATABASE_URL and REDIS_URL (see ``mesh.runner``) and reads LILO_CRISIS_* (see
``services.crisis.config``). The worker runs as a task on the server's loop; when the
server has drained, ``asyncio.run`` cancels it, which is safe at any point (open
transactions roll back, claimed deliveries are retried after their lease).

Before serving, ``tune_gc`` freezes the objects that exist after the imports and raises the
collector's first threshold: see its docstring and docs/services/crisis.md (fan-out cost).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from lilo.safety.v1 import safety_service_pb2_grpc as safety_grpc

from mesh.errors import ConfigError
from mesh.runner import ServiceDeps, run
from services.crisis import CrisisConfigError
from services.crisis.app import assemble
from services.crisis.config import config_from_env

SAFETY_SERVICE = "lilo.safety.v1.SafetyService"

# Allocations (net of frees) between young-generation collections; CPython's default is 700.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a process that fans events out.

    A crisis instance with hundreds of open streams spent ~18% of its busy time in the
    collector during a fan-out (py-spy), and a full collection, which walks every object
    including the ~65k that the imports leave behind, paused the loop for 15-160 ms on
    this machine. ``gc.freeze()`` moves what exists now (modules, classes, descriptors) to
    the permanent generation that collections skip, and a young threshold of 10,000
    instead of 700 lets the per-event garbage, which dies by reference counting anyway,
    come and go without a collection per few hundred deliveries. Garbage cycles are still
    collected, only later; nothing else changes. Call once, after the imports, before
    serving.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


async def build(deps: ServiceDeps) -> list[object]:
    try:
        config = config_from_env(os.environ)
    except CrisisConfigError as exc:
        raise ConfigError(str(exc)) from exc
    if deps.db is None:
        raise ConfigError("crisis needs DATABASE_URL")
    instance = assemble(
        deps.db,
        deps.redis,
        config=config,
        clock=deps.clock,
        safety=safety_grpc.SafetyServiceStub(deps.client.channel(SAFETY_SERVICE)),
    )
    instance.start()
    deps.extras["crisis"] = instance  # keeps the worker reachable (and referenced)
    return [instance.servicer]


if __name__ == "__main__":
    tune_gc()
    run(
        "crisis",
        build,
        default_port=8089,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
        needs_redis=True,
    )
