"""CrisisService: the durable crisis-alert feed of Lilo Mesh.

An alert, and every change to it, is stored in PostgreSQL (schema ``crisis``) before
anyone is told; each change appends one event to a totally ordered feed whose cursor is
the event's ``seq``. Watchers replay from a cursor and then follow Redis pub/sub, repairing
any lost or reordered publish from PostgreSQL, so a feed has no gap and no duplicate
across instances and reconnects. Unacknowledged alerts escalate by a per-level policy
driven by persisted deadlines that every instance's ``Escalator`` claims with
``FOR UPDATE SKIP LOCKED``; notifications go through an outbox with retry.

Modules: ``logic`` (pure state machine and escalation policy), ``config`` (settings from
the environment), ``convert`` (records <-> protos), ``store`` (asyncpg), ``feed``
(Redis fan-out and the gap-free watch loop), ``escalator`` (deadline and outbox worker),
``notifiers``, ``servicer``.

Exception tree (everything the package raises on its own account)::

    CrisisError
    ├── InvalidTransition   (also mesh.status.FailedPrecondition) the alert's state forbids it
    ├── AlertNotFound       (also mesh.status.NotFound) no such alert, or not visible
    ├── IdempotencyConflict (also mesh.status.AlreadyExists) key reused for another resident
    └── CrisisConfigError   (also ValueError) a LILO_CRISIS_* setting is invalid
"""

from __future__ import annotations

from mesh.status import AlreadyExists, FailedPrecondition, NotFound

__all__ = [
    "AlertNotFound",
    "CrisisConfigError",
    "CrisisError",
    "IdempotencyConflict",
    "InvalidTransition",
]


class CrisisError(Exception):
    """Base class of every error raised by the crisis package itself."""


class InvalidTransition(CrisisError, FailedPrecondition):
    """The alert's current state does not allow the requested change."""


class AlertNotFound(CrisisError, NotFound):
    """No alert with that id exists, or the caller may not see it (indistinguishable)."""


class IdempotencyConflict(CrisisError, AlreadyExists):
    """An idempotency key was reused for a different resident."""


class CrisisConfigError(CrisisError, ValueError):
    """A crisis setting from the environment cannot be parsed."""
