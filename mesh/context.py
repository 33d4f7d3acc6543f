"""Per-call state that must follow a request across hops: deadline, principal, ids.

Set by the server interceptor for the duration of a handler, read by the mesh
client when the handler calls another service, so deadlines and identity
propagate without handlers passing them by hand.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class CallContext:
    """What the mesh knows about the call being handled."""

    method: str
    """Full method path, e.g. ``/lilo.crisis.v1.CrisisService/GetAlert``."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` deadline, or None when the caller set none."""
    admission: Any = None
    """What the access controller returned (``mesh.access.Admission`` in services)."""
    forward_metadata: Sequence[tuple[str, str]] = field(default_factory=tuple)
    """Headers to forward on outgoing calls (authorization, correlation id)."""
    correlation_id: str = ""


current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "lilo_current_call", default=None
)


def current() -> CallContext | None:
    """The call being handled on this task, if any."""
    return current_call.get()


def principal() -> Any:
    """The authenticated principal of the call being handled, or None."""
    call = current_call.get()
    return getattr(call.admission, "principal", None) if call is not None else None
