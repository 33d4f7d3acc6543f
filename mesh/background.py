"""Stopping background tasks reliably, even when a library swallows cancellation.

``task.cancel(); await task`` hangs forever when the task's code (or a library under it)
catches the ``CancelledError`` and carries on: redis-py can turn a cancellation that lands
mid-command into a ``ConnectionError`` (redis/redis-py#2028, #2551), and a loop that
retries on connection errors then never ends. Two small tools close that gap:

- :func:`stop_task` cancels again until the task has really ended;
- :func:`raise_if_cancelling` lets a retry loop notice that it was asked to stop even
  though the exception it caught is not a ``CancelledError``.

And :class:`Doorbell`, on which a batching task sleeps between batches until work comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

__all__ = ["Doorbell", "raise_if_cancelling", "stop_task"]

log = logging.getLogger("lilo.mesh")


async def stop_task(task: asyncio.Task[object] | None, *, patience: float = 1.0) -> None:
    """Cancel ``task`` and return once it has finished, whatever it raised.

    If the task is still running ``patience`` seconds after a cancel, it swallowed the
    cancellation: cancel it again. Exceptions of the task are logged, not raised: a
    background task failing is no reason to fail the shutdown that stops it.
    """
    if task is None:
        return
    attempts = 0
    while not task.done():
        task.cancel()
        attempts += 1
        await asyncio.wait({task}, timeout=patience)
    if attempts > 1:
        log.warning("task %s needed %d cancels to stop", task.get_name(), attempts)
    if not task.cancelled() and task.exception() is not None:
        log.warning("background task %s ended with %r", task.get_name(), task.exception())


def raise_if_cancelling() -> None:
    """Raise ``CancelledError`` if the current task has a pending cancel request.

    Call it in an ``except`` branch of a retry loop: if the error was a converted
    cancellation, the loop stops instead of retrying forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Doorbell:
    """Wakes the one task that waits on it, when work arrives or ``seconds`` have passed.

    The audit writer's group commit and the consent lookups sleep on one between batches:
    a ring per queued item costs one check, not a wake-up per item.
    """

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def ring(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Return when rung, or after ``seconds`` (whichever comes first)."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._waiter
        finally:
            self._waiter = None
