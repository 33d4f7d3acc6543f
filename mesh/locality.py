"""Zone-aware picking: which of the available endpoints the picker may choose from.

Pure decision logic: no sockets, no asyncio, no clock. The client calls ``prefer_local``
with the endpoints a call may go to now (serving, healthy, not ejected, breaker closed,
not already tried by this call) and hands the result to its picker.

The rule. Given the caller's zone ``Z``, the candidates ``C``, the share ``s`` of this
service's calls that come from ``Z`` (0 < s <= 1), a minimum ``m >= 1`` of local endpoints
and an overload bound ``k >= 1``::

    L    = the endpoints of C whose zone is exactly Z
    w(X) = the sum of the weights of X; when w(C) is 0, every endpoint weighs 1

    1. Z is ""                    -> C   the caller does not know its zone
    2. every endpoint of C is in L -> C   one zone: the very same list, nothing changes
    3. len(L) < m                 -> C   spill over: too few (or no) local endpoints
    4. w(L) == 0                  -> C   the local endpoints take traffic only as a last resort
    5. s * w(C) > k * w(L)        -> C   panic: the local zone is too small for its callers
    6. otherwise                  -> L   local endpoints only

Rule 5 in words: sent only to ``L``, the caller zone's calls (``s`` of the total ``T``)
load each unit of local weight with ``s*T / w(L)``; spread over every zone each unit gets
``T / w(C)``. Their ratio ``s * w(C) / w(L)`` is how much hotter the local endpoints run
than the service's average, and calls stay local only while it is at most ``k``. With
three equal zones (``s = 1/3``) of four endpoints and ``k = 1.25``, losing one local
endpoint keeps calls local (ratio 11/9 = 1.22), losing two spills them (ratio 10/6 = 1.67).

Endpoints with an empty zone are in an unknown zone: never local, whatever ``Z`` is. A
spill-over goes to all of ``C`` (local endpoints included, so they keep their share), never
to "the others only", and nothing here ever returns an empty list for a non-empty ``C``:
a call never fails because its zone is empty.

``s`` is what Envoy reads from the caller's own cluster (how many of the caller's hosts
are in ``Z``). A mesh client does not know who is calling through it, so the client
either takes ``s`` from configuration or estimates it with ``zone_share`` over every
endpoint it knows of the service, healthy or not: the assumption (the same one
Kubernetes' topology-aware routing makes) is that callers are spread over the zones the
way the service's registered capacity is. Rule 5 then compares the healthy share with
the provisioned one: a zone that lost part of its endpoints spills once the survivors
would run more than ``k`` times hotter than average.

Cost: one pass over ``C`` with no allocation when the answer is ``C`` (the same object is
returned), plus the returned list when it is ``L``. The decision depends only on its
arguments, so the client caches it with its rotation and recomputes it only when a
breaker or a retry filters the candidates.

Not for affinity: a consistent-hash pick must see the same endpoints on every client, in
every zone, or one key would reach different instances; the client does not apply this
to calls that carry a ring-hash key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mesh.balancing import Endpoint

__all__ = ["DEFAULT_MAX_OVERLOAD", "count_local", "prefer_local", "zone_share"]

DEFAULT_MAX_OVERLOAD = 1.25
"""Calls stay local while the local endpoints run at most 25% hotter than the average."""


def prefer_local(
    endpoints: Sequence[Endpoint],
    zone: str,
    *,
    traffic_share: float,
    min_local_endpoints: int = 1,
    max_overload: float = DEFAULT_MAX_OVERLOAD,
) -> Sequence[Endpoint]:
    """The endpoints the picker should choose from (the rule in the module docstring).

    Returns ``endpoints`` itself unless the answer is "local only", in which case it
    returns a new list of the local endpoints in their original order (so round robin
    and ring positions keep their relative order).
    """
    if not zone:
        return endpoints
    n_local = w_local = w_total = 0
    for e in endpoints:
        w_total += e.weight
        if e.zone == zone:
            n_local += 1
            w_local += e.weight
    if n_local == len(endpoints) or n_local < min_local_endpoints:
        return endpoints
    if w_total == 0:  # every weight is 0: count endpoints instead (as weighted round robin)
        w_local, w_total = n_local, len(endpoints)
    if w_local == 0 or traffic_share * w_total > max_overload * w_local:
        return endpoints
    return [e for e in endpoints if e.zone == zone]


def zone_share(endpoints: Iterable[Endpoint], zone: str) -> float:
    """The share of the endpoints' weight that is in ``zone`` (0.0 when there is none).

    Weights count as in ``prefer_local``: when they are all 0, every endpoint weighs 1.
    Used as the estimate of the caller zone's share of traffic.
    """
    if not zone:
        return 0.0
    n = n_local = w_local = w_total = 0
    for e in endpoints:
        n += 1
        w_total += e.weight
        if e.zone == zone:
            n_local += 1
            w_local += e.weight
    if w_total == 0:
        return n_local / n if n else 0.0
    return w_local / w_total


def count_local(endpoints: Iterable[Endpoint], zone: str) -> int:
    """How many of the endpoints are in ``zone`` (0 for the unknown zone "")."""
    return sum(1 for e in endpoints if e.zone == zone) if zone else 0
