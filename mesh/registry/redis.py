"""Discovery on Redis (redis-py's asyncio client): standalone, Sentinel or Cluster.

Resyncs merge rather than replace: an instance leaves a watcher's set only by an
explicit removal or by its lease lapsing locally, so a Redis restart (which empties
the registry until the next heartbeats) never makes clients drop healthy endpoints.

Layout, all under one prefix (default ``lilo:disco``)::

    {p}:inst:{service}:{id}   JSON record, expires with the lease (SET ... PX ttl)
    {p}:ids:{service}         SET of instance ids ever seen (pruned on resync)
    {p}:services              SET of service names
    {p}:events:{service}      pub/sub channel: upsert / renew / remove events

On a Redis Cluster ``{service}`` is written with literal braces (a hash tag), so all
keys and the channel of one service share one slot: the MULTI/EXEC of a heartbeat and
the prune script stay single-slot, and events go through sharded pub/sub
(SPUBLISH/SSUBSCRIBE, Redis 7) on the node that owns the service's keys. The
``services`` set lives in its own slot and is updated outside the MULTI there.

A heartbeat is an idempotent upsert, so an instance re-registers by itself after
a Redis restart. Watchers subscribe first and then read the whole set, so no
change between the two is missed; they resync periodically to repair anything a
lost message missed, lapse leases locally (a crashed instance is gone within its
TTL, with no keyspace notifications needed), and keep the last known set while
Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ClusterError, RedisClusterException, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mesh.background import raise_if_cancelling
from mesh.clock import Clock, SystemClock
from mesh.errors import RegistryUnavailable
from mesh.registry.base import DEFAULT_TTL_S, InstanceRecord, Snapshot
from mesh.registry.leases import LeaseTable

log = logging.getLogger(__name__)

RedisClient = aioredis.Redis | aioredis.RedisCluster

# Cluster-only entries: a node down (CLUSTERDOWN, TRYAGAIN during a reshard) or no
# startup node answering at all (RedisClusterException "cannot be connected").
_UNREACHABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    ClusterError,
    TryAgainError,
    RedisClusterException,
)

# Drop ids whose record key lapsed, atomically, so a concurrent heartbeat that
# re-adds an id cannot be undone by a watcher's cleanup.
_PRUNE = """
local removed = 0
for i, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    redis.call('SREM', KEYS[1], id)
    removed = removed + 1
  end
end
return removed
"""


@dataclass(frozen=True)
class MultiHostUrl:
    """A ``redis+sentinel://`` or ``redis+cluster://`` URL, taken apart (no I/O)."""

    kind: str
    """``sentinel`` or ``cluster``."""
    hosts: tuple[tuple[str, int], ...]
    path: tuple[str, ...]
    username: str | None
    password: str | None


def parse_multi_host_url(url: str) -> MultiHostUrl:
    """Split ``redis+KIND://[user:pass@]h1:p1,h2:p2[/path...][?password=...]``.

    Raises ``ValueError`` with the offending URL for anything malformed.
    """
    parsed = urlparse(url)
    kind = parsed.scheme.removeprefix("redis+")
    if kind not in ("sentinel", "cluster"):
        raise ValueError(f"not a redis+sentinel:// or redis+cluster:// URL: {url!r}")
    userinfo, _, hostlist = parsed.netloc.rpartition("@")
    hosts = []
    for item in hostlist.split(","):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"{kind} URL needs host:port entries, got {item!r} in {url!r}")
        hosts.append((host, int(port)))
    user, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    opts = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return MultiHostUrl(
        kind=kind,
        hosts=tuple(hosts),
        path=tuple(p for p in parsed.path.split("/") if p),
        username=unquote(user) or None,
        password=unquote(password) or opts.get("password"),
    )


def _retry() -> dict[str, Any]:
    # Plain clients never retry: after a Redis restart (or a fail-over) the first
    # command on a pooled, dead connection would fail. Retry on a fresh connection.
    return {
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def connect(url: str) -> RedisClient:
    """Open a client for a redis-py URL, a Sentinel group or a Cluster.

    * ``redis://`` / ``rediss://`` / ``unix://``: redis-py's own URL forms.
    * ``redis+sentinel://h1:26379,h2:26379/<master-name>[/<db>]`` asks the sentinels for
      the current master and follows fail-overs (redis-py's Sentinel).
    * ``redis+cluster://h1:7000,h2:7001[/0]``: startup nodes of a Redis Cluster
      (redis-py's RedisCluster); the rest of the topology is discovered.

    Credentials go in the userinfo (``redis+cluster://user:pass@h:p``) or as
    ``?password=``; for Sentinel they are the data nodes' credentials.
    """
    if not url.startswith(("redis+sentinel:", "redis+cluster:")):
        return aioredis.Redis.from_url(url, **_retry())
    spec = parse_multi_host_url(url)
    if spec.kind == "cluster":
        if spec.path not in ((), ("0",)):
            raise ValueError(f"a Redis Cluster has only database 0: {url!r}")
        return aioredis.RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in spec.hosts],
            username=spec.username,
            password=spec.password,
        )
    if not spec.path:
        raise ValueError(f"sentinel URL needs a master name: {url!r}")
    db = int(spec.path[1]) if len(spec.path) > 1 else 0
    sentinel = aioredis.Sentinel(list(spec.hosts))
    client: aioredis.Redis = sentinel.master_for(
        spec.path[0], db=db, username=spec.username, password=spec.password, **_retry()
    )
    return client


class _Events:
    """One watcher's subscription to a service's channel: classic or sharded pub/sub."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._sharded = isinstance(client, aioredis.RedisCluster)
        self._pubsub: Any = client.pubsub()

    async def subscribe(self, channel: str) -> None:
        if isinstance(self._client, aioredis.RedisCluster):
            # SSUBSCRIBE routes by the client's slot map, which (unlike commands) it does
            # not load by itself: on a fresh client every slot looks uncovered.
            await self._client.initialize()
            await self._pubsub.ssubscribe(channel)
        else:
            await self._pubsub.subscribe(channel)

    async def next(self, timeout: float) -> bytes | str | None:  # noqa: ASYNC109
        """The next event body, or ``None`` when ``timeout`` passed (or a non-event came)."""
        if self._sharded:
            message = await self._pubsub.get_sharded_message(
                ignore_subscribe_messages=True, timeout=timeout
            )
        else:
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=timeout
            )
        if message is not None and message.get("type") in ("message", "smessage"):
            data: bytes | str = message["data"]
            return data
        return None

    async def aclose(self) -> None:
        await self._pubsub.aclose()


class RedisRegistry:
    """A ``Registry`` on Redis. One instance may serve many watchers and services."""

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "lilo:disco",
        resync_interval: float = 5.0,
        reconnect_backoff: tuple[float, float] = (0.05, 1.0),
        clock: Clock | None = None,
    ) -> None:
        self._cluster = isinstance(client, aioredis.RedisCluster)
        if self._cluster and ("{" in prefix or "}" in prefix):
            raise ValueError(f"a cluster registry prefix must not contain braces: {prefix!r}")
        self._redis = client
        self._prefix = prefix
        self._resync_interval = resync_interval
        self._backoff = reconnect_backoff
        self._clock = clock or SystemClock()
        self._prune = client.register_script(_PRUNE)
        self._closed = asyncio.Event()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisRegistry:
        return cls(connect(url), **kwargs)

    # -- keys ------------------------------------------------------------------------

    def _tag(self, service: str) -> str:
        # On a cluster, braces make the service name the hash tag: one slot per service.
        return f"{{{service}}}" if self._cluster else service

    def _inst_key(self, service: str, instance_id: str) -> str:
        return f"{self._prefix}:inst:{self._tag(service)}:{instance_id}"

    def _ids_key(self, service: str) -> str:
        return f"{self._prefix}:ids:{self._tag(service)}"

    def _channel(self, service: str) -> str:
        return f"{self._prefix}:events:{self._tag(service)}"

    async def _publish(self, service: str, event: dict[str, Any]) -> None:
        if self._cluster:
            await self._redis.spublish(self._channel(service), json.dumps(event))
        else:
            await self._redis.publish(self._channel(service), json.dumps(event))

    # -- writes ----------------------------------------------------------------------

    async def register(self, record: InstanceRecord, ttl: float = DEFAULT_TTL_S) -> None:
        await self.heartbeat(record, ttl)

    async def heartbeat(self, record: InstanceRecord, ttl: float = DEFAULT_TTL_S) -> None:
        ttl_ms = max(1, int(ttl * 1000))
        body = record.to_json()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(
                    self._inst_key(record.service, record.instance_id), body, px=ttl_ms, get=True
                )
                pipe.sadd(self._ids_key(record.service), record.instance_id)
                if not self._cluster:
                    pipe.sadd(f"{self._prefix}:services", record.service)
                old = (await pipe.execute())[0]
            if self._cluster:
                # Another slot than the service's keys: cannot join the MULTI above.
                await self._redis.sadd(f"{self._prefix}:services", record.service)
            kind = "renew" if old is not None and _decode(old) == body else "upsert"
            event = {"type": kind, "record": json.loads(body), "ttl_ms": ttl_ms}
            await self._publish(record.service, event)
        except _UNREACHABLE as exc:
            raise RegistryUnavailable(f"redis unreachable during heartbeat: {exc}") from exc

    async def deregister(self, service: str, instance_id: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._inst_key(service, instance_id))
                pipe.srem(self._ids_key(service), instance_id)
                await pipe.execute()
            await self._publish(service, {"type": "remove", "instance_id": instance_id})
        except _UNREACHABLE as exc:
            raise RegistryUnavailable(f"redis unreachable during deregister: {exc}") from exc

    # -- reads -----------------------------------------------------------------------

    async def list_services(self) -> list[str]:
        try:
            names = sorted(
                _decode(n) for n in await self._redis.smembers(f"{self._prefix}:services")
            )
        except _UNREACHABLE as exc:
            raise RegistryUnavailable(str(exc)) from exc
        live = []
        for name in names:
            if await self.list_instances(name):
                live.append(name)
        return live

    async def list_instances(self, service: str) -> list[InstanceRecord]:
        return [record for record, _ in await self._read_leased(service)]

    async def _read_leased(self, service: str) -> list[tuple[InstanceRecord, float]]:
        """Every live record of ``service`` with its remaining lease in seconds."""
        try:
            ids = sorted(_decode(i) for i in await self._redis.smembers(self._ids_key(service)))
            if not ids:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for instance_id in ids:
                    key = self._inst_key(service, instance_id)
                    pipe.get(key)
                    pipe.pttl(key)
                raw = await pipe.execute()
            if any(raw[i] is None for i in range(0, len(raw), 2)):
                await self._prune(keys=[self._ids_key(service)], args=[self._inst_key(service, "")])
        except _UNREACHABLE as exc:
            raise RegistryUnavailable(str(exc)) from exc
        leased = []
        for body, pttl in zip(raw[::2], raw[1::2], strict=True):
            if body is not None and pttl and pttl > 0:
                leased.append((InstanceRecord.from_json(body), pttl / 1000))
        return leased

    # -- watch -----------------------------------------------------------------------

    async def watch(self, service: str) -> AsyncIterator[Snapshot]:
        table = LeaseTable()
        delay = self._backoff[0]
        disconnected_at: float | None = None
        while not self._closed.is_set():
            events = _Events(self._redis)
            try:
                await events.subscribe(self._channel(service))
                # Subscribed first, then read: a change in between arrives as an event.
                table.merge(await self._read_leased(service), self._clock.now())
                if disconnected_at is not None:
                    log.info("discovery for %s reconnected to redis", service)
                disconnected_at, delay = None, self._backoff[0]
                yield Snapshot(service=service, instances=table.records())
                async for snapshot in self._follow(service, events, table):
                    yield snapshot
            except (*_UNREACHABLE, RegistryUnavailable) as exc:
                raise_if_cancelling()
                if disconnected_at is None:
                    disconnected_at = self._clock.now()
                    log.warning("discovery for %s lost redis (%s); keeping last set", service, exc)
                    yield Snapshot(service=service, instances=table.records(), connected=False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)
                delay = min(delay * 2, self._backoff[1])
            finally:
                # Bounded: closing a subscription on a dead connection must not hang shutdown.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(events.aclose(), 2.0)
            if disconnected_at is not None:
                # No heartbeat can be heard while Redis is down: leases must not lapse.
                table.extend_all(self._clock.now() - disconnected_at)

    async def _follow(
        self, service: str, events: _Events, table: LeaseTable
    ) -> AsyncIterator[Snapshot]:
        next_resync = self._clock.now() + self._resync_interval
        while not self._closed.is_set():
            now = self._clock.now()
            wake = min(next_resync, table.next_expiry() or next_resync)
            data = await events.next(timeout=max(0.0, wake - now))
            now = self._clock.now()
            changed = False
            if data is not None:
                changed = self._apply(table, data, now)
            if now >= next_resync:
                changed |= table.merge(await self._read_leased(service), now)
                next_resync = now + self._resync_interval
            changed |= bool(table.expire(now))
            if changed:
                yield Snapshot(service=service, instances=table.records())

    @staticmethod
    def _apply(table: LeaseTable, data: bytes | str, now: float) -> bool:
        try:
            event = json.loads(data)
            if event["type"] == "remove":
                return table.remove(event["instance_id"])
            record = InstanceRecord.from_json(json.dumps(event["record"]))
            return table.upsert(record, event["ttl_ms"] / 1000, now)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed discovery event: %r", data)
            return False

    async def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._redis.aclose(), 5.0)


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = [
    "MultiHostUrl",
    "RedisClient",
    "RedisError",
    "RedisRegistry",
    "connect",
    "parse_multi_host_url",
]
