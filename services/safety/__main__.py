"""``python -m services.safety``: content-safety screening (stateless)."""

from mesh.runner import ServiceDeps, run
from services.safety.servicer import SafetyServicer


async def build(deps: ServiceDeps) -> list[object]:
    return [SafetyServicer()]


if __name__ == "__main__":
    run("safety", build, default_port=8007)
