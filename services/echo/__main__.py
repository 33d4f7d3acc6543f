"""``python -m services.echo``: the echo probe behind the mesh."""

import os

from mesh.runner import ServiceDeps, run
from services.echo.servicer import EchoServicer


async def build(deps: ServiceDeps) -> list[object]:
    return [EchoServicer(os.environ.get("LILO_INSTANCE_ID", ""))]


if __name__ == "__main__":
    run("echo", build, default_port=8099)
