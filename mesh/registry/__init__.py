"""Service discovery: instances registered under leases, watched by clients.

``Registry`` is the contract; ``InMemoryRegistry`` serves the embedded default and
unit tests, ``RedisRegistry`` serves real deployments. Both pass the shared suite
in ``tests/mesh/test_registry_contract.py``.
"""

from mesh.registry.base import InstanceRecord, Registry, ServingStatus, Snapshot
from mesh.registry.memory import InMemoryRegistry

__all__ = ["InMemoryRegistry", "InstanceRecord", "Registry", "ServingStatus", "Snapshot"]


def registry_from_url(url: str | None) -> Registry:
    """Build the registry a URL names: ``memory://`` (or nothing), or a Redis URL.

    Redis URLs: redis-py's own (``redis://``, ``rediss://``, ``unix://``),
    ``redis+sentinel://s1:26379,s2:26379/<master>[/<db>]`` and
    ``redis+cluster://h1:7000,h2:7001`` (see ``mesh.registry.redis.connect`` and
    docs/discovery.md). A malformed Sentinel/Cluster URL raises ``ValueError``.
    """
    if not url or url.startswith("memory:"):
        return InMemoryRegistry()
    from mesh.registry.redis import RedisRegistry

    return RedisRegistry.from_url(url)
