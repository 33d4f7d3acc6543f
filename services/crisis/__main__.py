"""``python -m services.crisis``: the crisis service with its escalator worker.

Needs DATABASE_URL and REDIS_URL (see ``mesh.runner``) and reads LILO_CRISIS_* (see
``services.crisis.config``). The worker runs as a task on the server's loop; when the
server has drained, ``asyncio.run`` cancels it, which is safe at any point (open
transactions roll back, claimed deliveries are retried after their lease).

Like every service started by ``mesh.runner.run``, it tunes the garbage collector once it
listens (``mesh.gctune``; measured here first: docs/services/crisis.md, fan-out cost).
"""

from __future__ import annotations

import os
from pathlib import Path

from lilo.safety.v1 import safety_service_pb2_grpc as safety_grpc

from mesh.errors import ConfigError
from mesh.runner import ServiceDeps, run
from services.crisis import CrisisConfigError
from services.crisis.app import assemble
from services.crisis.config import config_from_env

SAFETY_SERVICE = "lilo.safety.v1.SafetyService"


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
    run(
        "crisis",
        build,
        default_port=8089,
        migrations=Path(__file__).parent / "migrations",
        needs_db=True,
        needs_redis=True,
    )
