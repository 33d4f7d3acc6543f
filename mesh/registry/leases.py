"""A pure table of instances under leases: records and expiry times in, live sets out.

Both the in-memory registry (as its source of truth) and the Redis watcher (as
its local view) keep one of these, so lease arithmetic lives in one place and is
tested with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh.registry.base import InstanceRecord


@dataclass(slots=True)
class _Entry:
    record: InstanceRecord
    expires_at: float


class LeaseTable:
    """Instances of one service keyed by instance id, each with a lease expiry."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def upsert(self, record: InstanceRecord, ttl: float, now: float) -> bool:
        """Store or renew ``record``; True when the visible set changed."""
        old = self._entries.get(record.instance_id)
        self._entries[record.instance_id] = _Entry(record, now + ttl)
        return old is None or old.record != record

    def remove(self, instance_id: str) -> bool:
        """Drop an instance; True when it was there."""
        return self._entries.pop(instance_id, None) is not None

    def expire(self, now: float) -> list[str]:
        """Drop every instance whose lease lapsed at or before ``now``; return their ids."""
        lapsed = [k for k, e in self._entries.items() if e.expires_at <= now]
        for key in lapsed:
            del self._entries[key]
        return lapsed

    def extend_all(self, seconds: float) -> None:
        """Push every expiry back, used while the backend cannot be reached.

        A client that cannot hear heartbeats must not conclude that everyone died.
        """
        for entry in self._entries.values():
            entry.expires_at += seconds

    def next_expiry(self) -> float | None:
        return min((e.expires_at for e in self._entries.values()), default=None)

    def expires_at(self, instance_id: str) -> float | None:
        entry = self._entries.get(instance_id)
        return entry.expires_at if entry else None

    def records(self) -> tuple[InstanceRecord, ...]:
        return tuple(self._entries[k].record for k in sorted(self._entries))

    def replace_all(self, leased: list[tuple[InstanceRecord, float]], now: float) -> bool:
        """Make the table exactly ``leased`` (record, remaining ttl); True if the set changed."""
        before = self.records()
        self._entries = {r.instance_id: _Entry(r, now + ttl) for r, ttl in leased}
        return self.records() != before

    def merge(self, leased: list[tuple[InstanceRecord, float]], now: float) -> bool:
        """Upsert every (record, remaining ttl); keep entries the backend did not list.

        A resync must not drop instances just because the backend forgot them (a Redis
        restart empties it until the next heartbeats): only an explicit removal or a
        lapsed lease takes an instance out. Returns True if the visible set changed.
        """
        changed = False
        for record, ttl in leased:
            entry = self._entries.get(record.instance_id)
            if entry is None or entry.record != record:
                changed = True
            expires = now + ttl
            if entry is None or expires > entry.expires_at:
                self._entries[record.instance_id] = _Entry(record, expires)
            else:
                entry.record = record
        return changed

    def __len__(self) -> int:
        return len(self._entries)
