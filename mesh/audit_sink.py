"""The mesh's audit sink: every PHI call (and every refused call) goes to PostgreSQL.

The server interceptor calls ``record_call`` before anything of a PHI call reaches the
caller (before the handler for rpcs that may write; alongside it for reads, holding the
response back). This sink writes straight to the audit schema through a batching
``AuditWriter`` (no network hop to the audit service, so auditing never depends on
discovery), and returns only once the record is committed. Any failure propagates, and
the interceptor then refuses the PHI call with UNAVAILABLE: no audit record, no PHI.

What one record says: who (principal subject and role), what (rpc path, resource,
action), which resident (the rpc's ``resident_field``) and record (``resource_id``: the
first set ``*_id`` field of the request other than the resident), PHI or not, allowed or
denied and why, whether break-glass access was used and which grants, the trace id and
the time (``occurred_at``, by the injected clock).
"""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path
from typing import Any

from mesh import telemetry
from mesh.clock import Clock, SystemClock
from mesh.db import migrate
from mesh.policy import MethodPolicy
from services.audit.logic import AuditEventData, StoredEvent, keyring_from_env
from services.audit.writer import AuditWriter

AUDIT_MIGRATIONS = Path(__file__).resolve().parent.parent / "services" / "audit" / "migrations"
COMPLIANCE_CONTEXT = "hipaa_164_312_b_audit_controls"
#: Under load, how long a batch waits for company (scripts/bench auth: 2 ms gave ~15%
#: more PHI calls/s at 64 concurrent callers than 0; latency there is tens of ms anyway).
BUSY_LINGER = 0.002

__all__ = ["AUDIT_MIGRATIONS", "PostgresAuditSink", "install", "sink_from_deps"]


class PostgresAuditSink:
    """``mesh.interceptors.AuditSink`` on top of an ``AuditWriter``."""

    def __init__(self, writer: AuditWriter, *, service: str = "", clock: Clock | None = None):
        self._writer = writer
        self._service = service
        self._clock = clock or SystemClock()

    @property
    def writer(self) -> AuditWriter:
        return self._writer

    async def record_call(
        self, policy: MethodPolicy, principal: Any, request: Any, *, allowed: bool, reason: str
    ) -> None:
        await self.begin_call(policy, principal, request, allowed=allowed, reason=reason)

    def begin_call(
        self, policy: MethodPolicy, principal: Any, request: Any, *, allowed: bool, reason: str
    ) -> asyncio.Future[StoredEvent]:
        """``record_call`` without a coroutine (the interceptor's per-call fast path): the
        record is queued now; the future resolves once it is committed, or fails."""
        return self._writer.enqueue(self.event_for(policy, principal, request, allowed, reason))

    def event_for(
        self, policy: MethodPolicy, admitted: Any, request: Any, allowed: bool, reason: str
    ) -> AuditEventData:
        """The record for one call. ``admitted`` is what the access controller returned
        (``mesh.access.Admission``), a bare ``Principal``, or None (refused/anonymous)."""
        principal = getattr(admitted, "principal", admitted)
        decision = getattr(admitted, "decision", None)
        subject = str(getattr(principal, "subject", "") or "anonymous")
        role = getattr(principal, "role", None)
        resident = str(getattr(admitted, "resident_id", "") or "")
        if not resident and request is not None and policy.resident_field:
            resident = _field(request, policy.resident_field)
        now = self._clock.wall()
        break_glass = bool(getattr(decision, "break_glass", False))
        grant_ids: tuple[str, ...] = tuple(getattr(decision, "grant_ids", ()) or ())
        if decision is None and principal is not None and resident:
            # No decision to read (a controller that returns the bare principal): fall
            # back to the principal's own active grant for this resident.
            active = getattr(principal, "active_grant", None)
            grant = active(resident, now) if callable(active) else None
            if grant is not None:
                break_glass, grant_ids = True, (grant.grant_id,)
        context = {"rpc": policy.path}
        if self._service:
            context["service"] = self._service
        if reason:
            context["reason"] = reason[:500]
        if decision is not None and getattr(decision, "reason", None) is not None:
            context["decision"] = str(decision.reason)
        if grant_ids:
            context["break_glass_grant_ids"] = ",".join(grant_ids)
        if allowed and policy.phi:
            event_type = "break_glass_access" if break_glass else "phi_access"
        elif allowed:
            event_type = "rpc_call"
        else:
            event_type = "access_denied"
        return AuditEventData(
            audit_id=_new_audit_id(),
            actor_user_id=subject,
            actor_role=f"ROLE_{str(role).upper()}" if role is not None else "ROLE_UNSPECIFIED",
            event_type=event_type,
            action=policy.action or policy.name,
            resource=policy.resource or policy.service,
            outcome="ALLOWED" if allowed else "DENIED",
            occurred_at_us=int(now * 1_000_000),
            resource_id=_resource_id(request, policy.resident_field),
            resident_id=resident,
            phi_accessed=bool(policy.phi) and allowed,
            compliance_context=COMPLIANCE_CONTEXT,
            break_glass=break_glass,
            trace_id=telemetry.current_trace_id(),
            additional_context=context,
        )

    async def close(self) -> None:
        await self._writer.close()


def _new_audit_id() -> str:
    """A random (version 4) UUID as 32 hex digits, as ``uuid.uuid4().hex`` but without
    building a ``UUID`` object for every call."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def _field(message: Any, path: str) -> str:
    value: Any = message
    for part in path.split("."):
        value = getattr(value, part, "")
    return str(value or "")


@functools.cache
def _id_fields(descriptor: Any, resident_field: str) -> tuple[str, ...]:
    """Top-level string ``*_id`` fields of a message type other than the resident field
    (computed once per type: descriptors live as long as the process)."""
    return tuple(
        fd.name
        for fd in descriptor.fields
        if fd.name.endswith("_id") and fd.name != resident_field and fd.type == fd.TYPE_STRING
    )


def _resource_id(request: Any, resident_field: str) -> str:
    """The first set top-level ``*_id`` string field that is not the resident field."""
    descriptor = getattr(request, "DESCRIPTOR", None)
    if descriptor is None:
        return ""
    for name in _id_fields(descriptor, resident_field):
        value = getattr(request, name, "")
        if isinstance(value, str) and value:
            return value
    return ""


async def install(deps: Any) -> PostgresAuditSink:
    """For a service's ``build``: make sure the audit schema exists in the service's
    database, and keep a sink in ``deps.extras['audit_sink']`` for ``sink_from_deps``.
    Needs ``deps.db`` and ``LILO_AUDIT_HMAC_KEY``; ``LILO_AUDIT_DB_ROLE`` (optional)
    names the append-only role to write as."""
    if deps.db is None:
        raise RuntimeError("the audit sink needs the service's database (needs_db=True)")
    await migrate(deps.db, "audit", AUDIT_MIGRATIONS)
    writer = AuditWriter(
        deps.db,
        keyring_from_env(os.environ),
        clock=deps.clock,
        # Group commit: a lone call is written at once (a fixed linger would add its
        # whole length to every PHI call at low concurrency), calls that arrive while a
        # batch is being committed form the next batch, and when batches have company
        # (load) the next one waits up to BUSY_LINGER for more: fewer commits per call.
        linger=0.0,
        busy_linger=BUSY_LINGER,
        writer_role=os.environ.get("LILO_AUDIT_DB_ROLE") or None,
    )
    sink = PostgresAuditSink(writer, service=deps.name, clock=deps.clock)
    deps.extras["audit_sink"] = sink
    return sink


def sink_from_deps(deps: Any) -> PostgresAuditSink:
    """The ``audit=`` factory for ``mesh.runner.run`` (after ``install`` in ``build``)."""
    sink: PostgresAuditSink = deps.extras["audit_sink"]
    return sink
