"""A worker's side of a cluster run: one chunk of targets through mailprobe's own engine.

`run_chunk` is the Dask task. It runs in a thread of the worker, one chunk at a time per worker process (the
engine sizes itself to the process: descriptors, sessions, windows), and:
1. applies the client's guard (MAILPROBE_ALLOW_ONLY, narrowed with the worker's own) before anything is sent;
2. tells the scheduler it started (the second start of a chunk is a retry after a worker died); a retry takes
   from the scheduler the reports the chunk's earlier runs finished, and runs only the other targets;
3. runs engine.indexed_stream over the chunk on an event loop of its own, with ClusterDestinations as the
   per-destination limits: the local per-address caps first, then a lease from the scheduler (coordinator.py)
   reached through the worker's own connection on the worker's event loop; each finished report goes to the
   scheduler at once (one way, on the worker's batched stream), kept there until the chunk returns;
4. returns [(position, Report)], those it ran on a retry marked `retried`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import os
import pickle
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from mailprobe.config import Config
from mailprobe.engine import Stages, indexed_stream
from mailprobe.model import Report
from mailprobe.net.guard import ENV
from mailprobe.scheduler import SCAN_AHEAD, LocalDestinationLimits

_ONE_ENGINE = threading.Lock()  # one chunk at a time per worker process, whatever the worker's thread count
_LEASE_IDS = itertools.count()
_PROCESS = uuid.uuid4().hex[:12]
STARTED_TIMEOUT = 60.0  # seconds to wait for the scheduler's answer before a chunk starts
ACQUIRES_AT_ONCE = 256  # lease requests open at once per worker, below its connection pool's 512


class LeaseRefused(RuntimeError):
    """The scheduler would not lease a destination (the worker was removed meanwhile)."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """What a task carries: the targets with their positions in the run, and everything the engine needs."""

    run: str
    key: str
    items: tuple[tuple[int, str], ...]
    cfg: Config
    stages: Stages
    guard: str | None  # the client's MAILPROBE_ALLOW_ONLY (None: not set)
    per_destination: int
    rate: float
    retried: bool = False  # run again one by one after the chunk it was in killed its workers


class Link:
    """Calls to the scheduler from the chunk's own event loop, made on the worker's loop (its connections)."""

    def __init__(self, worker: Any) -> None:
        self.address: str = worker.address
        self._rpc = worker.scheduler
        self._stream = worker.batched_stream
        self._loop: asyncio.AbstractEventLoop = worker.loop.asyncio_loop

    async def _call(self, op: str, kwargs: dict[str, Any]) -> Any:
        return await getattr(self._rpc, op)(**kwargs)

    def _submit(self, op: str, kwargs: dict[str, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(self._call(op, kwargs), self._loop)

    async def call(self, op: str, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(self._submit(op, kwargs))

    def send(self, op: str, **kwargs: Any) -> None:
        """On the worker's batched stream to the scheduler: no answer, no connection from the pool."""
        self._loop.call_soon_threadsafe(self._stream.send, {"op": op, **kwargs})

    def call_blocking(self, op: str, timeout: float, **kwargs: Any) -> Any:
        return self._submit(op, kwargs).result(timeout)


class ClusterDestinations:
    """scheduler.DestinationLimits for a cluster: this process's caps, then the cluster-wide lease."""

    def __init__(self, link: Link, chunk: Chunk) -> None:
        self.link, self.chunk = link, chunk
        self.local = LocalDestinationLimits(chunk.cfg.limits)
        self.asking = asyncio.Semaphore(ACQUIRES_AT_ONCE)
        cfg = chunk.cfg
        # A target's scan of an address probes its ports at most SCAN_AHEAD at once: that many connections.
        self.scan_units = min(SCAN_AHEAD, len(cfg.scan_ports) or len(cfg.services) or 1)

    def probe(self, address: str) -> AbstractAsyncContextManager[Any]:
        return self._held(self.local.probe(address), address, self.scan_units)

    def session(self, address: str) -> AbstractAsyncContextManager[Any]:
        return self._held(self.local.session(address), address, 1)

    @asynccontextmanager
    async def _held(self, local: AbstractAsyncContextManager[Any], address: str, units: int) -> AsyncIterator[None]:
        if not self.chunk.per_destination and not self.chunk.rate:  # nothing cluster-wide to hold
            async with local:
                yield
            return
        async with local:  # waiting here costs nothing: only what this process could start asks the scheduler
            lease = f"{_PROCESS}-{next(_LEASE_IDS)}"
            try:
                async with self.asking:
                    granted = await self.link.call(
                        "mailprobe_acquire",
                        lease=lease,
                        worker=self.link.address,
                        destination=address,
                        units=units,
                        limit=self.chunk.per_destination,
                        rate=self.chunk.rate,
                        run=self.chunk.run,
                    )
            except BaseException:
                self.link.send("mailprobe_release", lease=lease)  # cancelled while waiting: give the place up
                raise
            if not granted:
                raise LeaseRefused(f"the scheduler refused a lease for {address}")
            try:
                yield
            finally:
                self.link.send("mailprobe_release", lease=lease)


def narrowest(client: str | None, own: str | None) -> str | None:
    """The networks both guards allow (None when neither is set); "" allows nothing."""
    if client is None or own is None:
        return own if client is None else client
    mine = [ipaddress.ip_network(p.strip(), strict=False) for p in own.split(",") if p.strip()]
    theirs = [ipaddress.ip_network(p.strip(), strict=False) for p in client.split(",") if p.strip()]
    both = {
        a if a.prefixlen >= b.prefixlen else b
        for a in mine
        for b in theirs
        if a.version == b.version and a.overlaps(b)
    }
    return ",".join(str(n) for n in sorted(both, key=lambda n: (n.version, str(n))))


@contextmanager
def guarded(client: str | None) -> Iterator[None]:
    """MAILPROBE_ALLOW_ONLY as the client had it (narrowed with this worker's own) while a chunk runs."""
    own = os.environ.get(ENV)
    chosen = narrowest(client, own)
    if chosen is not None:
        os.environ[ENV] = chosen
    try:
        yield
    finally:
        if own is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = own


async def _audit(chunk: Chunk, link: Link, done: set[int]) -> list[tuple[int, Report]]:
    todo = [(position, text) for position, text in chunk.items if position not in done]
    found = []
    destinations = ClusterDestinations(link, chunk)
    async for index, report in indexed_stream([t for _, t in todo], chunk.cfg, chunk.stages, destinations=destinations):
        position = todo[index][0]
        # Kept on the scheduler until the chunk returns: if this worker dies, a retry does not run it again.
        link.send("mailprobe_finished", run=chunk.run, chunk=chunk.key, position=position, report=pickle.dumps(report))
        found.append((position, report))
    return found


def run_chunk(chunk: Chunk) -> list[tuple[int, Report]]:
    """The Dask task: see the module docstring."""
    from distributed import get_worker

    link = Link(get_worker())
    with _ONE_ENGINE, guarded(chunk.guard):
        starts = link.call_blocking("mailprobe_started", STARTED_TIMEOUT, run=chunk.run, chunk=chunk.key)
        kept: list[tuple[int, Report]] = []
        if starts > 1:  # a worker died running this chunk: what it finished is on the scheduler
            earlier = link.call_blocking("mailprobe_resume", STARTED_TIMEOUT, run=chunk.run, chunk=chunk.key)
            kept = [(int(position), pickle.loads(report)) for position, report in earlier]
        found = asyncio.run(_audit(chunk, link, {position for position, _ in kept}))
    link.send("mailprobe_chunk_done", run=chunk.run, chunk=chunk.key)
    if starts > 1 or chunk.retried:
        found = [(position, replace(report, retried=report.targets)) for position, report in found]
    return kept + found
