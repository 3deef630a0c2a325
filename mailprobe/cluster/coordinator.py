"""The scheduler's side of a cluster run: destination leases, the global pace, how often a chunk started, and
the reports a running chunk has finished so far (so that a chunk whose worker died runs only what it had not).

A SchedulerPlugin that adds handlers to the scheduler, the way Dask's own Semaphore, Lock and Queue are built,
so every worker reaches it in one round trip and it lives as long as the scheduler (not on a worker that may
die). Why not one distributed.Semaphore per destination: a Semaphore keeps its name on the scheduler for ever
(a million domains, a million names), each client-side instance refreshes its leases on a timer of its own,
and a dead worker's leases are only freed after `lease-timeout` (30 s by default) while every other worker
waits for that destination. Here a lease belongs to a worker and is freed the moment the scheduler removes
the worker; a destination's entry exists only while something holds or waits for it.

Handlers (called by worker.py and run.py):
    mailprobe_acquire(lease, worker, destination, units, limit, rate, run) -> bool
        Wait until `units` more connections to `destination` fit under `limit` (first come, first served),
        then, when `rate` > 0, until the run's pace allows `units` more attempts. False when the lease was
        given up meanwhile (mailprobe_release came first) or the worker is gone.
    mailprobe_release(lease)           frees a held lease, or gives up a waiting one (also a stream handler:
                                       workers send it on their batched stream to the scheduler)
    mailprobe_started(run, chunk) -> int   how many times this chunk has started (2 and more: a retry)
    mailprobe_starts(run, chunk) -> int    the same count, read only (run.py: did a killed chunk ever run?)
    mailprobe_finished(run, chunk, position, report)   (stream handler) a target of a running chunk is done:
                                       its pickled Report is kept until the chunk ends
    mailprobe_chunk_done(run, chunk)   (stream handler) the chunk returned its result: drop what was kept
    mailprobe_resume(run, chunk, drop=False) -> [[position, report], ...]   what the chunk's earlier runs
                                       finished (a retry skips those targets; run.py takes them from a chunk
                                       that kept killing its workers)
    mailprobe_forget(run)              drops the run's pace, start counts and kept reports
    mailprobe_state() -> dict          leases held and destinations tracked (tests, diagnostics)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

PLUGIN_NAME = "mailprobe-coordinator"
_ABANDONED_KEPT = 65536  # releases that came before their acquire (a dead worker's), remembered at most


@dataclass
class _Waiter:
    lease: str
    units: int
    limit: int
    granted: asyncio.Future[bool]


@dataclass
class _Budget:
    """One destination: connections in use, and who waits for more, in order of asking."""

    used: int = 0
    waiting: deque[_Waiter] = field(default_factory=deque)


class _Pace:
    """Connection attempts per second: each grant is given the next free instant (virtual time)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next = 0.0

    def delay(self, units: int) -> float:
        now = time.monotonic()
        start = max(now, self.next)
        self.next = start + units / self.rate
        return start - now


class Coordinator(SchedulerPlugin):
    name = PLUGIN_NAME
    idempotent = True  # a second run on the same scheduler keeps the first one's leases

    def __init__(self) -> None:
        self.scheduler: Any = None
        self.budgets: dict[str, _Budget] = {}
        self.leases: dict[str, tuple[str, str, int]] = {}  # lease -> (worker, destination, units)
        self.pending: dict[str, tuple[str, _Waiter]] = {}  # lease -> (destination, its wait)
        self.abandoned: dict[str, None] = {}  # given up before their acquire arrived (insertion ordered)
        self.paces: dict[str, _Pace] = {}
        self.starts: dict[str, Counter[str]] = {}
        # run -> chunk -> position -> pickled Report: what running chunks have finished. Bounded by the
        # chunks in flight (a few per worker thread) times their size; dropped as each chunk returns.
        self.kept: dict[str, dict[str, dict[int, bytes]]] = {}

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers.update(
            {
                "mailprobe_acquire": self.acquire,
                "mailprobe_release": self.release,
                "mailprobe_started": self.started,
                "mailprobe_starts": self.starts_of,
                "mailprobe_resume": self.resume,
                "mailprobe_forget": self.forget,
                "mailprobe_state": self.state,
            }
        )
        # Releases come over each worker's batched stream: no round trip, and no connection from the worker's
        # pool, which the acquires waiting for those very releases may hold.
        scheduler.stream_handlers["mailprobe_release"] = self.release_from_stream
        scheduler.stream_handlers["mailprobe_finished"] = self.finished
        scheduler.stream_handlers["mailprobe_chunk_done"] = self.chunk_done

    async def acquire(
        self, lease: str, worker: str, destination: str, units: int, limit: int, rate: float = 0.0, run: str = ""
    ) -> bool:
        if lease in self.abandoned:
            del self.abandoned[lease]
            return False
        limit = limit if limit > 0 else 1 << 30  # 0: no cap on the destination (only the pace, if any)
        units = max(1, min(units, limit))
        budget = self.budgets.setdefault(destination, _Budget())
        if budget.waiting or budget.used + units > limit:
            waiter = _Waiter(lease, units, limit, asyncio.get_running_loop().create_future())
            budget.waiting.append(waiter)
            self.pending[lease] = (destination, waiter)
            try:
                granted = await waiter.granted
            finally:
                self.pending.pop(lease, None)
            if not granted:
                return False
        else:
            budget.used += units
        if worker not in self.scheduler.workers:  # it died while waiting: nobody would release this
            self._free(destination, units)
            return False
        self.leases[lease] = (worker, destination, units)
        if rate > 0:
            pace = self.paces.setdefault(run, _Pace(rate))
            await asyncio.sleep(pace.delay(units))
        return True

    def release(self, lease: str) -> None:
        held = self.leases.pop(lease, None)
        if held is not None:
            self._free(held[1], held[2])
            return
        waiting = self.pending.pop(lease, None)
        if waiting is not None:
            destination, waiter = waiting
            self.budgets[destination].waiting.remove(waiter)
            if not waiter.granted.done():
                waiter.granted.set_result(False)
            self._wake(destination)
            return
        self.abandoned[lease] = None
        while len(self.abandoned) > _ABANDONED_KEPT:
            self.abandoned.pop(next(iter(self.abandoned)))

    def release_from_stream(self, lease: str, **_: Any) -> None:
        self.release(lease)

    def _free(self, destination: str, units: int) -> None:
        budget = self.budgets[destination]
        budget.used -= units
        self._wake(destination)

    def _wake(self, destination: str) -> None:
        budget = self.budgets[destination]
        while budget.waiting and budget.used + budget.waiting[0].units <= budget.waiting[0].limit:
            waiter = budget.waiting.popleft()
            budget.used += waiter.units
            waiter.granted.set_result(True)
        if not budget.used and not budget.waiting:
            del self.budgets[destination]

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        """A worker left (or died): its leases are freed now, not after a timeout."""
        for lease, (holder, _destination, _units) in list(self.leases.items()):
            if holder == worker:
                self.release(lease)

    def started(self, run: str, chunk: str) -> int:
        counts = self.starts.setdefault(run, Counter())
        counts[chunk] += 1
        return counts[chunk]

    def starts_of(self, run: str, chunk: str) -> int:
        return self.starts.get(run, Counter())[chunk]

    def finished(self, run: str, chunk: str, position: int, report: bytes, **_: Any) -> None:
        if run in self.starts:  # a message that arrives after the run was forgotten is dropped, not kept
            self.kept.setdefault(run, {}).setdefault(chunk, {})[position] = report

    def chunk_done(self, run: str, chunk: str, **_: Any) -> None:
        chunks = self.kept.get(run)
        if chunks is not None:
            chunks.pop(chunk, None)

    def resume(self, run: str, chunk: str, drop: bool = False) -> list[list[Any]]:
        chunks = self.kept.get(run, {})
        done = chunks.pop(chunk, {}) if drop else chunks.get(chunk, {})
        return [[position, report] for position, report in done.items()]

    def forget(self, run: str) -> None:
        self.paces.pop(run, None)
        self.starts.pop(run, None)
        self.kept.pop(run, None)

    def state(self) -> dict[str, Any]:
        return {
            "leases": len(self.leases),
            "waiting": len(self.pending),
            "destinations": len(self.budgets),
            "runs": len(self.starts),
            "kept": sum(len(done) for chunks in self.kept.values() for done in chunks.values()),
        }
