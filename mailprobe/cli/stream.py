"""A batch run through the engine: each target's report as it completes, and what finished when interrupted.

JSONL is written as each target completes (memory stays flat); the other formats are merged at the end in
input order. Errors go to stderr as they happen, named FILE:LINE when the target came from --input. On a
terminal a status line says what the run waits for (cli/status.py).

Ctrl-C (SIGINT) stops the run, and what finished is rendered and written as usual, in every format, to
--output and --report DIR: the report is marked `interrupted`, and `unfinished` lists the targets that did
not finish (those in flight, then those not yet started, at most UNFINISHED_LISTED; standard input is not
read further). JSONL gets a last report of its own saying so. One line on stderr, exit code 130 (nagios: its
status word's code, as always). A second Ctrl-C ends the process at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import signal
import sys
from collections.abc import Awaitable, Coroutine, Iterator
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from mailprobe.cli import common as c
from mailprobe.cli.batch import Run
from mailprobe.cli.inputs import read_in_thread
from mailprobe.cli.status import StatusLine, above, wanted
from mailprobe.config import Config
from mailprobe.errors import UsageError
from mailprobe.model import Report

if TYPE_CHECKING:
    from mailprobe.report.json import Prerendered

UNFINISHED_LISTED = 10_000  # targets an interrupted report lists as unfinished, at most
T = TypeVar("T")


async def checked_stream(run: Run, any_valid: bool) -> int:
    """Stream the run, checking --resolver beside it: an unusable resolver is bad input (one line, exit 2, no
    output), not a finding per target. The check's round trip and dnspython's import (~0.1 s) overlap the
    first probes instead of delaying them; nothing is written before the resolver has answered."""
    with Interrupt() as interrupt:
        verified = None
        if run.cfg.resolver is not None and any_valid:
            verified = asyncio.ensure_future(_check_resolver(run.cfg))
        try:
            return await _stream(run, interrupt.event, verified)
        finally:
            if verified is not None and not verified.done():
                verified.cancel()
                await asyncio.gather(verified, return_exceptions=True)


async def _check_resolver(cfg: Config) -> None:
    await asyncio.to_thread(_import_resolver)
    from mailprobe.dns import check_resolver

    await check_resolver(cfg)


async def until_interrupted(work: Awaitable[T]) -> tuple[T | None, bool]:
    """`work` (a run that is one piece: egress, demo) under the same Ctrl-C handling as a batch: (its result,
    False), or (None, True) when Ctrl-C came first (`work` is cancelled; the caller renders what it has)."""
    done: list[T] = []

    async def keep() -> None:
        done.append(await work)

    with Interrupt() as interrupt:
        interrupted = await _until(keep(), interrupt.event)
    return (done[0] if done else None), interrupted


def _import_resolver() -> None:
    """The resolving half of mailprobe.dns, and the asyncio backend dnspython imports at its first query."""
    importlib.import_module("mailprobe.dns.resolve")
    with contextlib.suppress(ImportError):  # dnspython's own module: if it moves, the query imports it
        importlib.import_module("dns._asyncio_backend")


class Interrupt:
    """SIGINT during a run: the first sets `event` (the run stops and writes what finished), a second raises
    KeyboardInterrupt at once. Outside the main thread (no signal handlers there) Ctrl-C is Python's."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __enter__(self) -> Interrupt:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self._signalled)
        except (ValueError, RuntimeError, NotImplementedError):
            return self
        self._loop = loop
        return self

    def _signalled(self) -> None:
        if self.event.is_set():
            self._release()
            raise KeyboardInterrupt
        self.event.set()

    def _release(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGINT)
            self._loop = None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._release()


class Pending:
    """The targets as the engine reads them (position = order read), each kept until its report is out.
    Standard input is read by a thread (cli/inputs.read_in_thread): a blocked read never delays Ctrl-C."""

    def __init__(self, texts: Iterator[str], *, threaded: bool) -> None:
        self._texts = texts
        self._threaded = read_in_thread(texts) if threaded else None
        self._taken: dict[int, str] = {}
        self._read = 0

    def __aiter__(self) -> Pending:
        return self

    async def __anext__(self) -> str:
        if self._threaded is not None:
            text = await self._threaded.__anext__()
        else:
            try:
                text = next(self._texts)
            except StopIteration:
                raise StopAsyncIteration from None
        self._taken[self._read] = text
        self._read += 1
        return text

    def done(self, index: int) -> None:
        self._taken.pop(index, None)

    def unfinished(self) -> tuple[str, ...]:
        """Those in flight (in input order), then those never started (never for standard input: it is not
        read further)."""
        found = [self._taken[index] for index in sorted(self._taken)][:UNFINISHED_LISTED]
        if self._threaded is None:
            with contextlib.suppress(UsageError):  # a bad line further on: the list ends there
                for text in self._texts:
                    if len(found) >= UNFINISHED_LISTED:
                        break
                    found.append(text)
        return tuple(found)


class JsonlSink:
    """JSONL to stdout, or to a file beside --output renamed over it at the end (a reader never sees half)."""

    def __init__(self, out: c.Output) -> None:
        self.path = out.path
        self.partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp") if self.path else None
        self.stream: TextIO = sys.stdout
        if self.partial is not None:
            try:
                self.stream = self.partial.open("w", encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"--output {self.path}: {exc.strerror or exc}") from None

    def write(self, report: Report) -> None:
        from mailprobe.report.jsonl import jsonl_lines

        for line in jsonl_lines(report):
            self.stream.write(line + "\n")
        self.stream.flush()

    def discard(self) -> None:
        """Nothing of this run is output (it failed before its first report): --output stays as it was."""
        if self.partial is not None:
            self.stream.close()
            self.partial.unlink(missing_ok=True)

    def close(self) -> None:
        if self.partial is None or self.path is None:
            return
        self.stream.close()
        try:  # what was streamed (whole reports only) replaces the file, also when interrupted
            os.replace(self.partial, self.path)
        except OSError as exc:
            raise UsageError(f"--output {self.path}: {exc.strerror or exc}") from None


async def _stream(run: Run, stop: asyncio.Event, verified: asyncio.Future[None] | None = None) -> int:
    from mailprobe.engine import Stages, import_meanwhile, indexed_stream, merge

    out = run.out
    writes_files = out.report_dir is not None or (out.path is not None and out.fmt != "jsonl")
    import_meanwhile(f"mailprobe.report.{out.fmt}", *(["mailprobe.report.files"] if writes_files else []))
    # Everything imported so far lives as long as the process: keep it out of every later collection.
    gc.freeze()
    pending = Pending(run.source.stream(), threaded=not run.source.rereadable)
    sink = JsonlSink(out) if out.fmt == "jsonl" else None
    keep = sink is None or out.report_dir is not None  # JSONL alone keeps nothing: memory stays flat
    kept: list[tuple[int, Report]] = []
    prerendered = _prerendered(out)
    status = StatusLine(run.total) if wanted() else None
    worst = c.EXIT_OK
    finished = 0

    refused = False  # the resolver check failed: nothing was written, and nothing is to be

    async def _verified() -> None:
        """Wait, before the first output, for the resolver check (it raises ResolverError)."""
        nonlocal verified
        if verified is not None:
            await verified
            verified = None

    async def consume() -> None:
        nonlocal worst, finished
        progress = status.progress if status is not None else None
        stages = Stages.named(run.stages)
        if run.cluster is not None:  # the same reports, run on Dask workers (mailprobe.cluster)
            from mailprobe.cluster.run import cluster_stream

            stream = cluster_stream(pending, run.cfg, stages, run.cluster, total=run.total)
        elif run.workers is not None:  # the same reports, from forked processes (mailprobe.jobs)
            stream = run.workers.stream(pending, progress)
        else:
            stream = indexed_stream(pending, run.cfg, stages, progress=progress)
        async for index, report in stream:
            await _verified()
            pending.done(index)
            report = _finish(report, run, index)
            with above(status):
                c.report_errors(report, run.source.origin(index))  # never silent, FILE:LINE named
                if sink is not None:
                    sink.write(report)
            worst = max(worst, c.exit_code(report, out.fail_on))
            finished += 1
            if status is not None:
                status.done = finished
            if keep:
                kept.append((index, report))
            if prerendered is not None:
                prerendered.add(report)

    async def consume_unless_refused() -> None:
        """consume(), ended at once when the resolver check fails (it may fail before any report is out)."""
        nonlocal refused
        check = verified
        if check is None:
            return await consume()
        work = asyncio.ensure_future(consume())
        try:
            await asyncio.wait({work, check}, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if check.done() and not check.cancelled() and check.exception() is not None:
            refused = True  # consume() may have raised it too, waiting for the check: either way it is this
            check.result()  # the ResolverError
        await work  # its result, or its own error (raised while the check was still pending)

    if status is not None:
        status.start()
    try:
        interrupted = await _until(consume_unless_refused(), stop)
    except BaseException:
        if sink is not None:
            if refused:
                sink.discard()
            else:
                sink.close()
        raise
    finally:
        if status is not None:
            status.stop()
    unfinished = pending.unfinished() if interrupted else ()
    code = worst
    if sink is not None:
        if interrupted:
            sink.write(_interruption(run, unfinished))
        sink.close()
    if keep:
        kept.sort(key=lambda item: item[0])
        merged = merge([report for _, report in kept], run.command, run.cfg.profile)
        if interrupted:
            merged = replace(merged, interrupted=True, unfinished=unfinished)
        code = c.emit(merged, out, prerendered) if sink is None else c.write_report_dir(merged, out)
    if not interrupted:
        return code
    done = f"{finished} of {run.total} targets finished" if run.total is not None else f"{finished} finished"
    more = " (or more)" if len(unfinished) >= UNFINISHED_LISTED else ""
    c.say_interrupted(f"{done}; {len(unfinished)}{more} did not (listed in the report)")
    return interrupted_code(code, out)


def _prerendered(out: c.Output) -> Prerendered | None:
    """--format json: each target's results written as its report arrives (report/json.Prerendered)."""
    if out.fmt != "json":
        return None
    from mailprobe.report.json import Prerendered

    return Prerendered()


def interrupted_code(code: int, out: c.Output) -> int:
    """An interrupted run's exit code: 130, but nagios's is always its status word's (`code`, from emit)."""
    return code if out.fmt == "nagios" else c.EXIT_INTERRUPTED


async def _until(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run `work` until it ends (False) or `stop` is set first (True: `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled() or (stop.is_set() and task.exception() is not None):
        return True  # a failure that came with the Ctrl-C (the input closed with it) is the interruption's
    task.result()  # what went wrong in the run (bad input on stdin, an unwritable file) is raised here
    return False


def _interruption(run: Run, unfinished: tuple[str, ...]) -> Report:
    """JSONL's last report when interrupted: no results, `interrupted`, and the targets that did not finish."""
    from mailprobe.engine import context_of, merge

    empty = merge([], run.command, run.cfg.profile)
    return replace(empty, context=context_of(run.cfg), interrupted=True, unfinished=unfinished)


def _finish(report: Report, run: Run, index: int) -> Report:
    return replace(report, command=run.command, meta=(*report.meta, ("index", str(index))))
