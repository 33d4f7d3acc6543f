"""Cheap cyclic garbage collection for long-running mesh processes.

A mesh process allocates many short-lived objects per call or per delivered message, and
almost all of them die by reference counting. CPython's collector nevertheless runs a
young collection every 700 net allocations and, now and then, a full collection that
walks every object, including the tens of thousands that the imports and start-up leave
behind (modules, classes, descriptor pools, route tables). Measured on a crisis instance
fanning out to hundreds of streams: ~18% of its busy time in the collector and full
collections of 15-190 ms (docs/services/crisis.md, fan-out cost).

``tune_gc`` is called once, after the imports and before serving (``mesh.runner.run``
and ``python -m gateway_rest`` do it). ``gc.freeze()`` moves everything alive at that
point to the permanent generation that collections skip, and a higher young threshold
lets per-call garbage come and go without a collection every few hundred messages.
Garbage cycles are still collected, only later; nothing else changes.
"""

from __future__ import annotations

import gc

__all__ = ["GC_YOUNG_THRESHOLD", "tune_gc"]

#: Allocations (net of frees) between young-generation collections; CPython's default: 700.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Freeze the start-up objects and raise the young threshold (see the module doc)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
