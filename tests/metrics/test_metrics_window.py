"""Aggregation windows: pure, with explicit times."""

import pytest

from services.metrics.window import Aggregator, Latest, Sample, quantile_ms

BOUNDS = (1.0, 5.0, 10.0)


def s(
    requests: int,
    errors: int = 0,
    counts: tuple[int, ...] = (0, 0, 0, 0),
    *,
    started: float = 0,
    instance: str = "a",
    streams: int = 0,
) -> Sample:
    return Sample(
        service="svc",
        instance_id=instance,
        started_at=started,
        requests=requests,
        errors=errors,
        bounds_ms=BOUNDS,
        bucket_counts=counts,
        active_streams=streams,
    )


def test_rates_come_from_the_window_only() -> None:
    agg = Aggregator()
    agg.ingest(s(0), now=0)
    agg.ingest(s(100), now=10)
    agg.ingest(s(300, errors=20), now=20)
    [view] = agg.view([], window_s=10, now=20)
    assert view.request_rate == pytest.approx(20.0)  # 200 requests in the last 10 s
    assert view.error_rate == pytest.approx(0.1)


def test_restart_does_not_produce_negative_rates() -> None:
    agg = Aggregator()
    agg.ingest(s(1000, started=0), now=0)
    agg.ingest(s(5, started=50), now=5)  # counters reset: a new started_at
    agg.ingest(s(55, started=50), now=10)
    [view] = agg.view([], window_s=60, now=10)
    assert view.request_rate == pytest.approx(10.0)


def test_instances_add_up_and_stale_ones_drop_out() -> None:
    agg = Aggregator(stale_after_s=30)
    for inst in ("a", "b"):
        agg.ingest(s(0, instance=inst, streams=2), now=0)
        agg.ingest(s(50, instance=inst, streams=3), now=10)
    [view] = agg.view([], window_s=60, now=10)
    assert (view.instances, view.request_rate, view.active_streams) == (2, 10.0, 6)
    agg.ingest(s(100, instance="a"), now=45)
    [view] = agg.view([], window_s=60, now=45)
    assert view.instances == 1


def test_quantiles_interpolate_inside_buckets() -> None:
    assert quantile_ms(BOUNDS, [0, 10, 0, 0], 0.5) == pytest.approx(3.0)
    assert quantile_ms(BOUNDS, [90, 0, 10, 0], 0.99) == pytest.approx(9.5)
    assert quantile_ms(BOUNDS, [0, 0, 0, 0], 0.5) == 0.0


def test_latency_quantiles_use_window_deltas() -> None:
    agg = Aggregator()
    agg.ingest(s(100, counts=(100, 0, 0, 0)), now=0)  # old, fast traffic
    agg.ingest(s(200, counts=(100, 0, 100, 0)), now=10)  # recent, slow traffic
    [view] = agg.view([], window_s=10, now=10)
    assert 5.0 < view.p50_ms <= 10.0


def test_filter_by_service_and_validation() -> None:
    agg = Aggregator()
    agg.ingest(s(1), now=0)
    assert agg.view(["other"], 10, now=0) == []
    assert Sample(service="", instance_id="x", started_at=0, requests=0, errors=0).validate()
    assert s(1, counts=(1,)).validate() is not None
    assert s(1, errors=2).validate() == "errors cannot exceed requests"


async def test_latest_conflates_for_a_slow_reader() -> None:
    box = Latest()
    for n in range(10):
        box.put(n)
    assert await box.get() == 9
    assert box.replaced == 9
