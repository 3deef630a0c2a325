"""The client's side of a cluster run: targets in chunks to Dask, (position, Report) back as chunks finish.

    cluster_stream(texts, cfg, stages, options, total=None)   connects (or starts local:N), then stream_on
    stream_on(client, texts, cfg, stages, options, total=None)  on a distributed.Client, async or not

Both yield what engine.indexed_stream yields: (position in `texts`, Report), in completion order, each
position exactly once. See the package docstring for faults and limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from mailprobe.cluster.options import ClusterOptions, require_dask
from mailprobe.cluster.worker import Chunk, run_chunk
from mailprobe.config import Config
from mailprobe.engine import Stages, Texts, admission_window, failed_report, numbered
from mailprobe.errors import UsageError
from mailprobe.model import ErrorKind, Report
from mailprobe.net.guard import ENV

FORGET_TIMEOUT = 5.0  # seconds to tell the scheduler a run is over, at most
CHUNKS_PER_THREAD = 2  # chunks submitted ahead per worker thread: one running, one ready to start
BYSTANDER_RETRIES = 3  # times a target is run again after dying only in a queue behind the one that killed


def dask_settings() -> dict[str, Any]:
    """What mailprobe sets in Dask's config for the clusters it starts and joins: no GPU probing (NVML) in the
    client and the scheduler. local:N also listens on 127.0.0.1 only, its dashboard included (see
    `connected`); Dask itself fetches nothing from anywhere."""
    return {"distributed.diagnostics.nvml": False}


@asynccontextmanager
async def connected(options: ClusterOptions) -> AsyncIterator[Any]:
    """An asynchronous Client of the scheduler at options.address, or of a LocalCluster started here."""
    require_dask()
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(dask_settings()):
        if options.address:
            try:
                client = await Client(options.address, asynchronous=True)  # type: ignore[no-untyped-call]
            except (OSError, asyncio.TimeoutError) as exc:
                raise UsageError(f"--cluster: cannot reach the Dask scheduler at {options.address}: {exc}") from None
            async with client:
                yield client
            return
        async with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=options.local_workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                asynchronous=True,
                silence_logs=50,  # logging.CRITICAL: a worker's death is reported in the run's summary
            ) as cluster,
            Client(cluster, asynchronous=True) as client,  # type: ignore[no-untyped-call]
        ):
            yield client


async def cluster_stream(
    texts: Texts, cfg: Config, stages: Stages, options: ClusterOptions, *, total: int | None = None
) -> AsyncIterator[tuple[int, Report]]:
    async with connected(options) as client:
        async for item in stream_on(client, texts, cfg, stages, options, total=total):
            yield item


async def _client_call(client: Any, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A Client method from this event loop, whether the client is asynchronous (on this loop) or not."""
    if client.asynchronous:
        return await method(*args, **kwargs)
    return await asyncio.to_thread(method, *args, **kwargs)


async def _scheduler_call(client: Any, op: str, **kwargs: Any) -> Any:
    return await _client_call(client, client.sync, getattr(client.scheduler, op), **kwargs)


def chunk_size(cfg: Config, stages: Stages, total: int | None, threads: int, chosen: int = 0) -> int:
    """Targets per task: a few of the engine's admission windows (so a worker's engine stays busy), fewer when
    the run is small, so that every worker thread gets several chunks and a lost one costs little."""
    if chosen:
        return chosen
    size = 4 * admission_window(cfg, stages)
    if total:
        size = min(size, math.ceil(total / (4 * max(1, threads))))
    return max(1, size)


def lost_report(text: str, cfg: Config, kind: ErrorKind, message: str) -> Report:
    """A target the cluster could not run, as its own report (typed error, counted, never silent)."""
    report = failed_report(text, cfg, kind, message)
    return replace(report, retried=(text,)) if kind is ErrorKind.WORKER_LOST else report


class _Seen:
    """Positions already yielded, one bit each."""

    def __init__(self) -> None:
        self.bits = bytearray()

    def add(self, position: int) -> bool:
        byte, bit = divmod(position, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte - len(self.bits) + 1024))
        if self.bits[byte] >> bit & 1:
            return False
        self.bits[byte] |= 1 << bit
        return True


async def stream_on(
    client: Any, texts: Texts, cfg: Config, stages: Stages, options: ClusterOptions, *, total: int | None = None
) -> AsyncIterator[tuple[int, Report]]:
    from distributed import KilledWorker

    from mailprobe.cluster.coordinator import Coordinator

    try:
        await _client_call(client, client.register_plugin, Coordinator())
    except Exception as exc:  # the cluster boundary: a scheduler that cannot load mailprobe's plugin
        raise UsageError(
            f"--cluster: the scheduler cannot run mailprobe's plugin ({exc!r}); install the same "
            "mailprobe[cluster] on the scheduler and the workers"
        ) from None
    threads = sum((await _client_call(client, client.nthreads)).values()) or 1
    size = chunk_size(cfg, stages, total, threads, options.chunk)
    run = uuid.uuid4().hex[:16]
    loop = asyncio.get_running_loop()
    finished: asyncio.Queue[Any] = asyncio.Queue()
    in_flight: dict[Any, Chunk] = {}
    seen = _Seen()
    numbered_texts = numbered(texts).__aiter__()
    exhausted = False
    keys = (f"mailprobe-{run}-{n}" for n in range(1 << 62))
    requeued: dict[int, int] = {}  # position -> times run again as a bystander

    def submit(items: tuple[tuple[int, str], ...], retried: bool = False) -> None:
        key = next(keys)
        chunk = Chunk(run, key, items, cfg, stages, os.environ.get(ENV), options.per_destination, options.rate, retried)
        future = client.submit(run_chunk, chunk, key=key, pure=False)
        in_flight[future] = chunk
        future.add_done_callback(lambda done: loop.call_soon_threadsafe(finished.put_nowait, done))

    async def next_items() -> tuple[tuple[int, str], ...]:
        nonlocal exhausted
        items: list[tuple[int, str]] = []
        while len(items) < size:
            try:
                items.append(await numbered_texts.__anext__())
            except StopAsyncIteration:
                exhausted = True
                break
        return tuple(items)

    try:
        while True:
            while not exhausted and len(in_flight) < CHUNKS_PER_THREAD * threads:
                items = await next_items()
                if items:
                    submit(items)
            if not in_flight:
                return
            future = await finished.get()
            chunk = in_flight.pop(future)
            try:
                found = await _client_call(client, client.gather, future)
            except KilledWorker as exc:
                found = await _kept(client, run, chunk)  # what its runs finished before its workers died
                done = {position for position, _ in found}
                rest = tuple(item for item in chunk.items if item[0] not in done)
                if len(chunk.items) > 1:  # find the one that kills workers: each target left on its own
                    for item in rest:
                        submit((item,), retried=True)
                elif rest:
                    started = await _bystander_starts(client, run, chunk, rest[0], exc, requeued)
                    if started is not None:  # `retried` only if it ran before (it was in a chunk, or started)
                        submit(rest, retried=chunk.retried or started > 0)
                    else:
                        found += [(p, lost_report(t, cfg, ErrorKind.WORKER_LOST, _killed(exc))) for p, t in rest]
            except Exception as exc:  # the cluster boundary: a chunk that failed is each target's error
                message = f"cluster: the task failed: {exc!r}"
                found = [(p, lost_report(t, cfg, ErrorKind.INTERNAL, message)) for p, t in chunk.items]
            finally:
                future.release()
            for position, report in found:
                if seen.add(position):
                    yield position, report
    finally:
        for future in in_flight:
            future.release()  # what is not running yet is dropped; a running chunk ends on its own
        with contextlib.suppress(Exception):  # best effort: the run is over (or interrupted) either way
            await asyncio.wait_for(_scheduler_call(client, "mailprobe_forget", run=run), FORGET_TIMEOUT)


async def _kept(client: Any, run: str, chunk: Chunk) -> list[tuple[int, Report]]:
    """The reports a killed chunk's runs finished, as the workers sent them to the scheduler (dropped there)."""
    try:
        done = await _scheduler_call(client, "mailprobe_resume", run=run, chunk=chunk.key, drop=True)
    except Exception:  # the cluster boundary: without them, those targets are run again
        return []
    return [(int(position), pickle.loads(report)) for position, report in done]


async def _bystander_starts(
    client: Any, run: str, chunk: Chunk, item: tuple[int, str], exc: BaseException, requeued: dict[int, int]
) -> int | None:
    """How often a killed chunk had started when its last target (`item`) died only as a bystander (it may run
    again); None when the deaths are its own. Dask counts a death against every task assigned to the worker,
    the ones queued behind the running chunk too; a chunk that started (told the coordinator) fewer times than
    its workers died was not running at least once, so it did not kill them all."""
    position = item[0]
    tries = getattr(exc, "allowed_failures", None)
    if not isinstance(tries, int) or requeued.get(position, 0) >= BYSTANDER_RETRIES:
        return None
    try:
        starts = await _scheduler_call(client, "mailprobe_starts", run=run, chunk=chunk.key)
    except Exception:  # the cluster boundary: without the count, the death is the target's, as Dask reports it
        return None
    if not isinstance(starts, int) or starts > tries:
        return None
    requeued[position] = requeued.get(position, 0) + 1
    return starts


def _killed(exc: BaseException) -> str:
    tries = getattr(exc, "allowed_failures", None)
    times = f"{tries + 1} times" if isinstance(tries, int) else "each time"
    return f"the worker process running it died {times}; not run again"
