"""EndpointBreaker: pybreaker's counting with asyncio-correct accounting and a fake clock."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from mesh.breaker import BreakerState, EndpointBreaker, is_endpoint_failure
from mesh.clock import FakeClock
from mesh.errors import CircuitOpenError, MeshError


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


async def fail_after_await(code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> str:
    await asyncio.sleep(0)  # the failure happens after the coroutine started running
    raise rpc_error(code)


async def ok() -> str:
    await asyncio.sleep(0)
    return "ok"


def st(b: EndpointBreaker) -> str:
    # A function, not the property, so the type checker does not narrow across awaits.
    return b.state


async def fail_n(b: EndpointBreaker, n: int, code: grpc.StatusCode) -> None:
    for _ in range(n):
        with pytest.raises(grpc.aio.AioRpcError):
            await b.run(lambda: fail_after_await(code))


@pytest.mark.parametrize(
    ("code", "counts"),
    [
        (grpc.StatusCode.UNAVAILABLE, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, True),
        (grpc.StatusCode.INTERNAL, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.NOT_FOUND, False),
        (grpc.StatusCode.PERMISSION_DENIED, False),
        (grpc.StatusCode.FAILED_PRECONDITION, False),
    ],
)
def test_failure_predicate(code: grpc.StatusCode, counts: bool) -> None:
    assert is_endpoint_failure(rpc_error(code)) is counts


def test_failure_predicate_for_local_errors() -> None:
    assert is_endpoint_failure(TimeoutError())
    assert is_endpoint_failure(ConnectionResetError())
    assert not is_endpoint_failure(ValueError())


async def test_opens_after_fail_max_failures_and_then_rejects_without_calling() -> None:
    b = EndpointBreaker("e1", fail_max=3, clock=FakeClock())
    await fail_n(b, 2, grpc.StatusCode.UNAVAILABLE)
    assert st(b) == "closed" and b.fail_counter == 2
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    assert st(b) == "open"
    assert not b.available

    called = False

    async def spy() -> str:
        nonlocal called
        called = True
        return "sent"

    with pytest.raises(CircuitOpenError) as info:
        await b.run(spy)
    assert not called
    assert isinstance(info.value, MeshError)
    assert info.value.endpoint == "e1"
    assert info.value.remaining_s == pytest.approx(30.0)


async def test_the_original_error_propagates_even_when_it_trips_the_breaker() -> None:
    b = EndpointBreaker("e1", fail_max=1, clock=FakeClock())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await b.run(fail_after_await)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert st(b) == "open"


async def test_non_counted_codes_do_not_open_it_and_reset_the_count() -> None:
    b = EndpointBreaker("e1", fail_max=3, clock=FakeClock())
    await fail_n(b, 20, grpc.StatusCode.NOT_FOUND)
    await fail_n(b, 20, grpc.StatusCode.INVALID_ARGUMENT)
    assert st(b) == "closed"
    await fail_n(b, 2, grpc.StatusCode.UNAVAILABLE)
    await fail_n(b, 1, grpc.StatusCode.PERMISSION_DENIED)  # the endpoint answered
    await fail_n(b, 2, grpc.StatusCode.UNAVAILABLE)
    assert st(b) == "closed"


async def test_success_resets_the_consecutive_count() -> None:
    b = EndpointBreaker("e1", fail_max=3, clock=FakeClock())
    await fail_n(b, 2, grpc.StatusCode.INTERNAL)
    assert await b.run(ok) == "ok"
    assert b.fail_counter == 0
    await fail_n(b, 2, grpc.StatusCode.INTERNAL)
    assert st(b) == "closed"


async def test_turns_half_open_after_the_reset_timeout_on_the_injected_clock() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=1, reset_timeout_s=10.0, clock=clock)
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    clock.advance(9.999)
    assert st(b) == "open"
    with pytest.raises(CircuitOpenError):
        await b.run(ok)
    clock.advance(0.001)
    assert st(b) == "half_open" and b.available
    assert await b.run(ok) == "ok"
    assert st(b) == "closed"


async def test_half_open_admits_only_the_bounded_number_of_trials() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=1, reset_timeout_s=5.0, max_half_open_calls=1, clock=clock)
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    clock.advance(5.0)

    release = asyncio.Event()

    async def slow_ok() -> str:
        await release.wait()
        return "trial"

    trial = asyncio.create_task(b.run(slow_ok))
    await asyncio.sleep(0)  # let the trial get admitted and block
    assert st(b) == "half_open" and not b.available
    started = 0

    async def counted() -> str:
        nonlocal started
        started += 1
        return "extra"

    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            await b.run(counted)
    assert started == 0

    release.set()
    assert await trial == "trial"
    assert st(b) == "closed"
    assert await b.run(counted) == "extra"


async def test_half_open_with_more_slots_admits_that_many() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=1, reset_timeout_s=1.0, max_half_open_calls=3, clock=clock)
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    clock.advance(1.0)
    release = asyncio.Event()

    async def wait() -> str:
        await release.wait()
        return "t"

    trials = [asyncio.create_task(b.run(wait)) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await b.run(ok)
    release.set()
    assert await asyncio.gather(*trials) == ["t", "t", "t"]
    assert st(b) == "closed"


async def test_failed_trial_reopens_for_a_full_timeout() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=2, reset_timeout_s=10.0, clock=clock)
    await fail_n(b, 2, grpc.StatusCode.UNAVAILABLE)
    clock.advance(10.0)
    await fail_n(b, 1, grpc.StatusCode.DEADLINE_EXCEEDED)  # one trial failure is enough
    assert st(b) == "open"
    clock.advance(9.0)
    with pytest.raises(CircuitOpenError):
        await b.run(ok)
    clock.advance(1.0)
    assert await b.run(ok) == "ok"
    assert st(b) == "closed"


async def test_success_threshold_needs_that_many_trial_successes() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=1, reset_timeout_s=1.0, success_threshold=2, clock=clock)
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    clock.advance(1.0)
    await b.run(ok)
    assert st(b) == "half_open"
    await b.run(ok)
    assert st(b) == "closed"


async def test_a_cancelled_trial_neither_closes_nor_reopens_and_frees_its_slot() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=1, reset_timeout_s=1.0, clock=clock)
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    clock.advance(1.0)
    trial = asyncio.create_task(b.run(lambda: asyncio.Event().wait()))
    await asyncio.sleep(0)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    assert st(b) == "half_open" and b.available
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    assert st(b) == "open"


async def test_results_of_calls_admitted_before_a_state_change_are_ignored() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", fail_max=2, reset_timeout_s=1.0, clock=clock)
    release = asyncio.Event()

    async def late_failure() -> str:
        await release.wait()
        raise rpc_error(grpc.StatusCode.UNAVAILABLE)

    stragglers = [asyncio.create_task(b.run(late_failure)) for _ in range(5)]
    await asyncio.sleep(0)
    await fail_n(b, 2, grpc.StatusCode.UNAVAILABLE)
    assert st(b) == "open"
    clock.advance(1.0)
    assert await b.run(ok) == "ok"
    assert st(b) == "closed"
    release.set()  # five failures from the old closed period arrive now
    for t in stragglers:
        with pytest.raises(grpc.aio.AioRpcError):
            await t
    assert st(b) == "closed" and b.fail_counter == 0


async def test_state_changes_are_reported() -> None:
    clock = FakeClock()
    seen: list[tuple[BreakerState | None, BreakerState]] = []
    b = EndpointBreaker(
        "e1",
        fail_max=1,
        reset_timeout_s=1.0,
        clock=clock,
        on_state_change=lambda old, new: seen.append((old, new)),
    )
    await fail_n(b, 1, grpc.StatusCode.UNAVAILABLE)
    clock.advance(1.0)
    await b.run(ok)
    assert seen == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


async def test_trip_and_reset_are_operator_overrides() -> None:
    clock = FakeClock()
    b = EndpointBreaker("e1", reset_timeout_s=3.0, clock=clock)
    b.trip()
    assert st(b) == "open"
    with pytest.raises(CircuitOpenError):
        await b.run(ok)
    b.reset()
    assert st(b) == "closed"
    assert await b.run(ok) == "ok"
