"""``ProcessPoolEngine``: recognition in worker processes, so decoding uses every core.

pocketsphinx holds the GIL while it decodes, so decoders in the server's process take
turns with the event loop. Here each worker (``services.voice.worker``) is a long-lived
child process owning ``slots_per_worker`` decoder slots; the event loop only frames
audio, runs VAD, sends batches down a pipe and reads results back.

Affinity: an utterance holds one *lease* (worker, slot) from its START to its END, and
all of its audio goes to that slot, in order (one pipe per worker, served in order). The
decoder's state lives exactly that long (``start_utt`` .. ``end_utt``), so the next
utterance of the same stream may go to the least-loaded worker.

Batching: frames are sent ``batch_frames`` at a time (200 ms by default): one pipe
round trip and one ``process_raw`` per batch instead of per 20 ms frame. At most
``max_inflight`` batches per session are sent but not decoded; past that ``feed`` waits,
so a slow recognizer slows the stream's acks (and so the client) instead of queueing.

Without a free lease an utterance's frames are buffered (bounded by the segmenter's 30 s
cut) and the session retries on each feed, catching up when a lease frees.

Pipe I/O runs on two threads per worker (blocking reads/writes release the GIL); results
resolve ``concurrent.futures.Future``s, so the engine is not tied to one event loop.
A worker that exits fails every request it held with ``WorkerLost`` (the servicer ends
those streams with UNAVAILABLE) and is replaced by a fresh process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.voice import EngineError, WorkerLost
from services.voice.engine import KWS_THRESHOLDS, Recognition, RecognitionSession
from services.voice.logic import CRISIS_PHRASES, merge_unique, normalize_text, phrases_in_text
from services.voice.worker import read_message, write_message

log = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PoolConfig:
    workers: int = 0
    """Worker processes; 0 = one per CPU (``os.cpu_count()``)."""
    slots_per_worker: int = 2
    """Utterances a worker decodes interleaved; each slot costs ~125 MB."""
    batch_frames: int = 10
    """20 ms frames per decoder call (10 = 200 ms)."""
    max_inflight: int = 2
    """Batches per session sent but not yet decoded before ``feed`` waits."""
    partial_every: int = 25
    """Frames between partial transcripts (25 = 0.5 s)."""
    second_pass: bool = False
    """pocketsphinx's fwdflat pass at the end of each utterance (see ``engine._Slot``)."""
    start_timeout: float = 120.0
    """Seconds a new worker may take to build its decoders."""
    kws_thresholds: dict[str, float] = field(default_factory=lambda: dict(KWS_THRESHOLDS))

    def __post_init__(self) -> None:
        if self.workers < 0 or self.slots_per_worker < 1:
            raise EngineError("workers must be >= 0 and slots_per_worker >= 1")
        if self.batch_frames < 1 or self.max_inflight < 1 or self.partial_every < 1:
            raise EngineError("batch_frames, max_inflight and partial_every must be >= 1")

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def pick_worker(free: Mapping[int, int]) -> int | None:
    """The worker with the most free slots (spreads utterances over cores); None if none."""
    best = max(free.items(), key=lambda item: (item[1], -item[0]), default=None)
    return best[0] if best is not None and best[1] > 0 else None


class _Worker:
    """One child process and its pipe threads. Requests are answered in order."""

    def __init__(
        self, index: int, kws_file: str, slots: int, second_pass: bool, on_exit: Any
    ) -> None:
        self.index = index
        self.slots = slots
        self._on_exit = on_exit
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, concurrent.futures.Future[Any]] = {}
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.alive = True
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "services.voice.worker"),
                *(kws_file, str(slots), "1" if second_pass else "0"),
            ],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.pid = self.proc.pid
        self.ready: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._pending[0] = self.ready
        threading.Thread(target=self._read, name=f"voice-w{index}-in", daemon=True).start()
        threading.Thread(target=self._write, name=f"voice-w{index}-out", daemon=True).start()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, op: str, slot: int, payload: Any = None) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if not self.alive:
                future.set_exception(self._lost())
                return future
            request_id = next(self._ids)
            self._pending[request_id] = future
        self._outbox.put((request_id, op, slot, payload))  # type: ignore[arg-type]
        return future

    def _write(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while (message := self._outbox.get()) is not None:
            try:
                write_message(stdin, message)
            except (BrokenPipeError, ValueError, OSError):
                break  # the process is gone: the reader reports it
        with contextlib.suppress(OSError):
            stdin.close()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        while (message := read_message(stdout)) is not None:
            request_id, ok, result = message
            with self._lock:
                future = self._pending.pop(request_id, None)
            if future is None or future.done():
                continue
            if ok:
                future.set_result(result)
            else:
                future.set_exception(EngineError(f"speech worker {self.index}: {result}"))
        self.proc.wait()
        with self._lock:
            self.alive = False
            pending, self._pending = self._pending, {}
        error = self._lost()
        for future in pending.values():
            if not future.done():
                future.set_exception(error)
        self._on_exit(self)

    def _lost(self) -> WorkerLost:
        code = self.proc.returncode
        killed = code is not None and code < 0
        how = f"was killed by signal {-code}" if killed and code else f"exited ({code})"
        return WorkerLost(f"speech worker {self.index} (pid {self.pid}) {how}")

    def stop(self) -> None:
        self._outbox.put(None)


@dataclass(frozen=True)
class _Lease:
    worker: _Worker
    slot: int


class ProcessPoolEngine:
    """pocketsphinx in ``PoolConfig.worker_count`` processes (see the module docstring).

    ``start()`` blocks until every worker is ready (decoders take seconds to build); call
    it from a thread (``await engine.warm()``) in a running server.
    """

    def __init__(self, config: PoolConfig | None = None) -> None:
        self.config = config or PoolConfig()
        self._kws_dir = tempfile.TemporaryDirectory(prefix="lilo-voice-kws-")
        self._kws_file = str(Path(self._kws_dir.name) / "crisis.kws")
        Path(self._kws_file).write_text(
            "".join(f"{p} /{t:g}/\n" for p, t in self.config.kws_thresholds.items())
        )
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        self._free: dict[int, list[int]] = {}
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Lease]]] = []
        self._closing = False
        self.busy = 0
        """Leases held by utterances (decoder slots in use)."""
        self.replaced = 0
        """Workers replaced after they exited."""

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._workers:
                return
            self._workers = [self._spawn(i) for i in range(self.config.worker_count)]
        for worker in list(self._workers):
            self._await_ready(worker)

    async def warm(self) -> None:
        await asyncio.to_thread(self.start)

    def _spawn(self, index: int) -> _Worker:
        config = self.config
        return _Worker(
            index, self._kws_file, config.slots_per_worker, config.second_pass, self._worker_exited
        )

    def _await_ready(self, worker: _Worker) -> None:
        try:
            worker.ready.result(self.config.start_timeout)
        except Exception as exc:
            raise EngineError(f"speech worker {worker.index} did not start: {exc}") from exc
        with self._lock:
            if worker is self._workers[worker.index] and worker.alive:
                for slot in range(worker.slots):
                    self._put(_Lease(worker, slot))

    def _worker_exited(self, worker: _Worker) -> None:
        """Reader thread of a dead worker: drop its free slots and start a replacement."""
        with self._lock:
            self._free.pop(worker.index, None)
            if self._closing or self._workers[worker.index] is not worker:
                return
            log.error("speech worker %d (pid %d) exited; replacing it", worker.index, worker.pid)
            fresh = self._spawn(worker.index)
            self._workers[worker.index] = fresh
            self.replaced += 1
        try:
            self._await_ready(fresh)
        except EngineError as exc:
            log.error("replacement speech worker failed: %s", exc)

    def close(self) -> None:
        with self._lock:
            self._closing = True
            workers = list(self._workers)
        for worker in workers:
            worker.stop()
        for worker in workers:
            try:
                worker.proc.wait(5)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
        self._kws_dir.cleanup()

    # -- observability (tests, docs) ---------------------------------------------------

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers]

    @property
    def free_slots(self) -> int:
        with self._lock:
            return sum(len(slots) for slots in self._free.values())

    @property
    def inflight(self) -> int:
        """Requests sent to workers and not yet answered (bounded per session)."""
        return sum(w.pending for w in self._workers)

    def held_by_worker(self) -> dict[int, int]:
        """Slots in use per live worker index."""
        with self._lock:
            return {
                w.index: w.slots - len(self._free.get(w.index, ()))
                for w in self._workers
                if w.alive and w.ready.done()
            }

    # -- leases ------------------------------------------------------------------------

    def try_acquire(self) -> _Lease | None:
        with self._lock:
            index = pick_worker({i: len(s) for i, s in self._free.items()})
            if index is None:
                return None
            self.busy += 1
            return _Lease(self._workers[index], self._free[index].pop())

    async def acquire(self) -> _Lease:
        lease = self.try_acquire()
        if lease is not None:
            return lease
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Lease] = loop.create_future()
        with self._lock:
            self._waiters.append((loop, waiter))
        try:
            return await waiter  # busy was counted by the releaser
        except asyncio.CancelledError:
            with self._lock:
                self._waiters = [(lp, w) for lp, w in self._waiters if w is not waiter]
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            raise

    def release(self, lease: _Lease) -> None:
        with self._lock:
            self.busy -= 1
            if lease.worker.alive and self._workers[lease.worker.index] is lease.worker:
                self._put(lease)

    def _put(self, lease: _Lease) -> None:
        """Hand a free lease to the first waiter (on its own loop), else to the free list."""
        while self._waiters:
            loop, waiter = self._waiters.pop(0)
            if waiter.done() or loop.is_closed():
                continue
            self.busy += 1
            loop.call_soon_threadsafe(self._deliver, waiter, lease)
            return
        self._free.setdefault(lease.worker.index, []).append(lease.slot)

    def _deliver(self, waiter: asyncio.Future[_Lease], lease: _Lease) -> None:
        if waiter.done():  # cancelled in the meantime: give the lease back
            self.release(lease)
        else:
            waiter.set_result(lease)

    async def open(self, keyphrases: Sequence[str], *, resident_id: str) -> RecognitionSession:
        if not self._workers:
            raise EngineError("the speech worker pool is not started")
        return _PoolSession(self, tuple(keyphrases))


class _PoolSession:
    def __init__(self, engine: ProcessPoolEngine, extra: tuple[str, ...]) -> None:
        self._engine = engine
        self._config = engine.config
        self._phrases = merge_unique(CRISIS_PHRASES, extra)
        self._lease: _Lease | None = None
        self._buffer: list[bytes] = []
        self._inflight: list[concurrent.futures.Future[Any]] = []

    @property
    def buffered_frames(self) -> int:
        """Frames of the open utterance not yet sent to a worker."""
        return len(self._buffer)

    def _send(self, op: str, payload: Any = None) -> concurrent.futures.Future[Any]:
        assert self._lease is not None
        future = self._lease.worker.submit(op, self._lease.slot, payload)
        self._inflight.append(future)
        return future

    def _flush(self) -> None:
        # Batch-sized pieces: a backlog (buffered while no slot was free) is decoded as
        # several requests, so other slots of the worker get turns in between.
        if self._lease is None:
            return
        size = self._config.batch_frames
        for i in range(0, len(self._buffer), size):
            piece = b"".join(self._buffer[i : i + size])
            self._send("feed", (piece, self._config.partial_every))
        self._buffer = []

    def _take_lease(self, lease: _Lease | None) -> None:
        self._lease = lease
        if lease is not None:
            self._send("start")

    async def _await_oldest(self) -> Any:
        future = self._inflight.pop(0)
        return await asyncio.wrap_future(future)

    async def start_utterance(self) -> None:
        self._release()
        self._buffer = []
        self._take_lease(self._engine.try_acquire())

    async def feed(self, frames: Sequence[bytes]) -> str | None:
        self._buffer.extend(frames)
        if self._lease is None:
            self._take_lease(self._engine.try_acquire())
            if self._lease is None:
                return None  # no free slot yet: keep buffering (bounded by the 30 s cut)
        if len(self._buffer) >= self._config.batch_frames:
            self._flush()
        partial: str | None = None
        while self._inflight and (
            len(self._inflight) > self._config.max_inflight or self._inflight[0].done()
        ):
            result = await self._await_oldest()
            if isinstance(result, str):
                partial = result
        return partial

    async def end_utterance(self) -> Recognition:
        if self._lease is None:
            self._take_lease(await self._engine.acquire())
        self._flush()
        self._send("end")
        result: Any = None
        while self._inflight:
            result = await self._await_oldest()
        self._release()
        text, confidence, hits = result
        spotted = [normalize_text(h) for h in hits]
        keyphrases = merge_unique(
            [p for p in self._phrases if any(p in s for s in spotted)],
            phrases_in_text(text, self._phrases),
        )
        return Recognition(text, min(1.0, max(0.0, float(confidence))), tuple(keyphrases))

    def _release(self) -> None:
        # Requests still queued for the slot are answered into futures nobody awaits; the
        # worker serves its pipe in order, so the slot's next START comes after them.
        lease, self._lease = self._lease, None
        self._inflight = []
        if lease is not None:
            self._engine.release(lease)

    def close(self) -> None:
        self._buffer = []
        self._release()
