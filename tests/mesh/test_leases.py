"""Lease arithmetic, with a fake clock and no I/O."""

from mesh.clock import FakeClock
from mesh.registry import InstanceRecord, ServingStatus
from mesh.registry.leases import LeaseTable


def rec(n: int, **kw: object) -> InstanceRecord:
    return InstanceRecord(service="s", instance_id=f"i{n}", address=f"h:{n}", **kw)  # type: ignore[arg-type]


def test_upsert_reports_visible_changes_only() -> None:
    table, clock = LeaseTable(), FakeClock()
    assert table.upsert(rec(1), 3, clock.now())
    assert not table.upsert(rec(1), 3, clock.now())  # a renewal changes nothing visible
    assert table.upsert(rec(1, status=ServingStatus.DRAINING), 3, clock.now())


def test_leases_lapse_at_their_ttl() -> None:
    table, clock = LeaseTable(), FakeClock()
    table.upsert(rec(1), 3, clock.now())
    table.upsert(rec(2), 5, clock.now())
    clock.advance(2.999)
    assert table.expire(clock.now()) == []
    clock.advance(0.001)
    assert table.expire(clock.now()) == ["i1"]
    assert [r.instance_id for r in table.records()] == ["i2"]
    assert table.next_expiry() == 5


def test_renewal_postpones_expiry() -> None:
    table, clock = LeaseTable(), FakeClock()
    table.upsert(rec(1), 3, clock.now())
    clock.advance(2)
    table.upsert(rec(1), 3, clock.now())
    clock.advance(2)
    assert table.expire(clock.now()) == []


def test_extend_all_freezes_leases_while_backend_is_away() -> None:
    table, clock = LeaseTable(), FakeClock()
    table.upsert(rec(1), 3, clock.now())
    clock.advance(10)
    table.extend_all(10)
    assert table.expire(clock.now()) == []


def test_replace_all_reports_change() -> None:
    table, clock = LeaseTable(), FakeClock()
    assert table.replace_all([(rec(1), 3.0)], clock.now())
    assert not table.replace_all([(rec(1), 2.0)], clock.now())
    assert table.replace_all([], clock.now())
    assert len(table) == 0


def test_merge_keeps_what_the_backend_forgot() -> None:
    table, clock = LeaseTable(), FakeClock()
    table.upsert(rec(1), 3, clock.now())
    assert not table.merge([], clock.now())  # an emptied backend removes nothing
    assert table.merge([(rec(2), 3.0)], clock.now())
    assert [r.instance_id for r in table.records()] == ["i1", "i2"]
    clock.advance(3)
    assert table.expire(clock.now()) == ["i1", "i2"]  # leases still lapse
