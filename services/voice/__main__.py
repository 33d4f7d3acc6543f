"""``python -m services.voice``: the streaming voice service.

Environment (besides ``mesh.runner``'s): ``LILO_VOICE_ENGINE`` ``processes`` (default: a
pool of recognition worker processes) or ``threads`` (decoders in this process);
``LILO_VOICE_WORKERS`` worker processes (default 0 = one per CPU); ``LILO_VOICE_SLOTS``
decoder slots per worker (threads: in all; default 2); ``LILO_VOICE_WINDOW`` window in
chunks (default 50); ``LILO_VOICE_UNREAD_TIMEOUT`` / ``LILO_VOICE_IDLE_TIMEOUT`` seconds
before a stream whose client stopped reading / sending is ended (default 30 each);
``LILO_VOICE_SCREENING`` ``off`` for a recognition-only pool behind ``RemoteEngine``.
"""

from __future__ import annotations

import os

from lilo.crisis.v1 import crisis_service_pb2_grpc as crisis_grpc

from mesh.access import NoFacts, TokenAccessController
from mesh.errors import ConfigError
from mesh.runner import ServiceDeps, run
from services.voice import EngineError
from services.voice.engine import PocketSphinxConfig, PocketSphinxEngine
from services.voice.logic import StallLimits
from services.voice.pool import PoolConfig, ProcessPoolEngine
from services.voice.servicer import CRISIS_SERVICE, VoiceConfig, VoiceServicer


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _engine() -> PocketSphinxEngine | ProcessPoolEngine:
    kind = os.environ.get("LILO_VOICE_ENGINE", "processes").lower()
    slots = _int("LILO_VOICE_SLOTS", 2)
    try:
        if kind == "threads":
            return PocketSphinxEngine(PocketSphinxConfig(slots=slots))
        if kind == "processes":
            workers = _int("LILO_VOICE_WORKERS", 0)
            return ProcessPoolEngine(PoolConfig(workers=workers, slots_per_worker=slots))
    except EngineError as exc:
        raise ConfigError(f"voice engine settings: {exc}") from None
    raise ConfigError(f"LILO_VOICE_ENGINE must be processes or threads, got {kind!r}")


async def build(deps: ServiceDeps) -> list[object]:
    screening = os.environ.get("LILO_VOICE_SCREENING", "on").lower() not in ("off", "0", "false")
    engine = _engine()
    await engine.warm()
    deps.extras["voice_engine"] = engine
    channel = deps.client.channel(CRISIS_SERVICE)
    crisis = crisis_grpc.CrisisServiceStub(channel) if screening else None
    config = VoiceConfig(
        window_chunks=_int("LILO_VOICE_WINDOW", 50),
        screening=screening,
        stall=StallLimits(
            unread_timeout=_seconds("LILO_VOICE_UNREAD_TIMEOUT", 30.0),
            idle_timeout=_seconds("LILO_VOICE_IDLE_TIMEOUT", 30.0),
        ),
    )
    # The same controller the runner installs: streams are admitted again with their config.
    access = TokenAccessController(verifier=deps.verifier, facts=NoFacts(), clock=deps.clock)
    return [VoiceServicer(engine, crisis=crisis, access=access, config=config)]


if __name__ == "__main__":
    run("voice", build, default_port=8077, needs_db=False)
