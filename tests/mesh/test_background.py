"""stop_task and raise_if_cancelling: background loops stop even when cancellation is
swallowed; Doorbell: a batching task wakes when work comes, or after its timeout."""

from __future__ import annotations

import asyncio

import pytest

from mesh.background import Doorbell, raise_if_cancelling, stop_task


async def test_stop_task_cancels_again_when_the_first_cancel_is_swallowed() -> None:
    swallowed = 0
    started = asyncio.Event()

    async def stubborn() -> None:
        nonlocal swallowed
        started.set()
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # what a library that eats cancellations does

    task = asyncio.create_task(stubborn())
    await started.wait()
    await stop_task(task, patience=0.05)
    assert task.cancelled()
    assert swallowed == 1


async def test_stop_task_logs_a_failed_task_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken())
    await asyncio.wait({task})
    await stop_task(task)
    assert "boom" in caplog.text


async def test_stop_task_accepts_none_and_finished_tasks() -> None:
    await stop_task(None)
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await stop_task(task)
    assert task.done() and not task.cancelled()


async def test_a_retry_loop_stops_when_cancellation_arrives_as_another_error() -> None:
    attempts = 0
    in_call = asyncio.Event()

    async def converted_call() -> None:
        # A client library that turns a cancellation into its own connection error.
        in_call.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ConnectionError("connection closed") from None

    async def retry_forever() -> None:
        nonlocal attempts
        while True:
            attempts += 1
            try:
                await converted_call()
            except ConnectionError:
                raise_if_cancelling()

    task = asyncio.create_task(retry_forever())
    await in_call.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert attempts == 1


async def test_raise_if_cancelling_is_silent_without_a_cancel_request() -> None:
    raise_if_cancelling()  # no exception: nobody asked this task to stop


async def test_a_ring_wakes_the_waiter_before_its_timeout() -> None:
    bell = Doorbell()
    waiting = asyncio.create_task(bell.wait(60.0))
    await asyncio.sleep(0)  # let the waiter start waiting
    bell.ring()
    await asyncio.wait_for(waiting, 5.0)  # would take 60 s without the ring


async def test_the_wait_ends_by_itself_and_a_ring_with_nobody_waiting_is_harmless() -> None:
    bell = Doorbell()
    bell.ring()  # nobody waits: nothing to wake, nothing remembered
    loop = asyncio.get_running_loop()
    began = loop.time()
    await bell.wait(0.01)
    assert loop.time() - began >= 0.01
    bell.ring()
