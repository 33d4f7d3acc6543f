"""``python -m services.safety``: content-safety screening (stateless)."""

import asyncio

from mesh.runner import ServiceDeps, run
from services.safety.classifier import ModelDetector, default_detector
from services.safety.servicer import SafetyServicer


async def build(deps: ServiceDeps) -> list[object]:
    # Load the model (about a second) before serving, once: a missing or corrupt model
    # stops start-up here instead of failing the first crisis message.
    model = ModelDetector()
    await asyncio.to_thread(model.warm_up)
    return [SafetyServicer(default_detector(model))]


if __name__ == "__main__":
    run("safety", build, default_port=8007)
