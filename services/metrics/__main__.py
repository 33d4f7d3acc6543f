"""``python -m services.metrics``: live metrics for operators (state in memory)."""

from mesh.runner import ServiceDeps, run
from services.metrics.servicer import MetricsServicer


async def build(deps: ServiceDeps) -> list[object]:
    return [MetricsServicer(clock=deps.clock)]


if __name__ == "__main__":
    run("metrics", build, default_port=8092)
