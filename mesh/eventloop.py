"""Which event loop a mesh process runs on: uvloop unless told otherwise.

Every long-running process (``mesh.runner.run`` for the services, ``python -m
gateway_rest``) starts its loop here. uvloop (libuv under CPython's asyncio API; already
installed as part of ``uvicorn[standard]``) does the per-call work of a gRPC hop cheaper
than the standard loop: socket writes, callbacks and timers are C, not Python. asyncpg,
redis.asyncio, grpc.aio and uvicorn all run on it unchanged.

``LILO_EVENT_LOOP=asyncio`` picks the standard loop instead (to rule the loop out when
chasing a bug); an unknown value is a ``ConfigError``. Where uvloop cannot be imported
(a platform without a wheel), the standard loop is used and that is logged once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from mesh.errors import ConfigError

__all__ = ["EVENT_LOOP_ENV", "LOOP_NAMES", "loop_factory", "loop_name", "run"]

log = logging.getLogger(__name__)

EVENT_LOOP_ENV = "LILO_EVENT_LOOP"
LOOP_NAMES = ("uvloop", "asyncio")

_T = TypeVar("_T")


def loop_name(environ: dict[str, str] | None = None) -> str:
    """The loop the environment asks for (default ``uvloop``); raises ``ConfigError``."""
    env = os.environ if environ is None else environ
    name = env.get(EVENT_LOOP_ENV, "").strip().lower() or "uvloop"
    if name not in LOOP_NAMES:
        raise ConfigError(f"{EVENT_LOOP_ENV}={name!r}: expected one of {', '.join(LOOP_NAMES)}")
    return name


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for ``name``'s loops; uvloop falls back to asyncio when it is missing."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed: running on the standard asyncio loop")
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Callable[[], Coroutine[Any, Any, _T]], *, name: str | None = None) -> _T:
    """Run ``main()`` to completion on a new loop of the configured kind (as
    ``asyncio.run`` does: tasks left over are cancelled, async generators closed)."""
    factory = loop_factory(name or loop_name())
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())
