"""``python -m services.voice``: the streaming voice service.

Environment (besides ``mesh.runner``'s): ``LILO_VOICE_SLOTS`` recognizer slots (default 2),
``LILO_VOICE_WINDOW`` window in chunks (default 50), ``LILO_VOICE_SCREENING`` ``off`` for a
recognition-only pool behind ``RemoteEngine``.
"""

from __future__ import annotations

import os

from lilo.crisis.v1 import crisis_service_pb2_grpc as crisis_grpc

from mesh.access import NoFacts, TokenAccessController
from mesh.errors import ConfigError
from mesh.runner import ServiceDeps, run
from services.voice.engine import PocketSphinxConfig, PocketSphinxEngine
from services.voice.servicer import CRISIS_SERVICE, VoiceConfig, VoiceServicer


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


async def build(deps: ServiceDeps) -> list[object]:
    screening = os.environ.get("LILO_VOICE_SCREENING", "on").lower() not in ("off", "0", "false")
    engine = PocketSphinxEngine(PocketSphinxConfig(slots=_int("LILO_VOICE_SLOTS", 2)))
    await engine.warm()
    deps.extras["voice_engine"] = engine
    channel = deps.client.channel(CRISIS_SERVICE)
    crisis = crisis_grpc.CrisisServiceStub(channel) if screening else None
    config = VoiceConfig(window_chunks=_int("LILO_VOICE_WINDOW", 50), screening=screening)
    # The same controller the runner installs: streams are admitted again with their config.
    access = TokenAccessController(verifier=deps.verifier, facts=NoFacts(), clock=deps.clock)
    return [VoiceServicer(engine, crisis=crisis, access=access, config=config)]


if __name__ == "__main__":
    run("voice", build, default_port=8077, needs_db=False)
