"""`--jobs N`: a batch run's targets spread over N forked processes on this machine, each running the engine.

    workers = Workers.fork(n, cfg, stages, progress=True)    before the event loop starts (one thread)
    async for position, report in workers.stream(texts, progress): ...   what engine.indexed_stream yields
    workers.stop()                                           ends and reaps them (by PID), whatever happened

Why: a large scan's connects, TLS handshakes, checks and reports cost CPU, and one process uses one core. The
children are forked once the engine is imported (its code is shared, copy on write); the parent reads the
targets, hands each to the child with the fewest unfinished ones (at most the engine's admission window
each), and renders and writes the reports as usual: FILE:LINE errors, the status line, JSONL streaming, the
order and Ctrl-C's `unfinished` are the parent's, exactly as without --jobs.

The wire, one socketpair per child, frames of a 4-byte length and a pickle (parent and child are the same
program): parent -> child `(position, text)` per target, then `()` (no more); child -> parent
`("report", position, Report)`, `("steps", ((target, place, doing, session, since), ...))` every
STEPS_INTERVAL when a status line is shown (time.monotonic is the machine's clock, the same in every
process), `("failed", reason)` before a child gives up.

Faults: a child that dies or fails leaves its unfinished targets as reports with a `worker-lost` error (never
lost, never run twice); when none is left, so are the targets not yet handed out. A child ignores SIGINT (the
parent decides what Ctrl-C means) and ends when the parent does (EOF on its socket, or PR_SET_PDEATHSIG).

A run spread over N processes is as gentle as one (`Limits.shared_by`): each child has 1/N of the run-wide
limits (sessions, probes and targets at once, raw mode's SYN rate) and opens 1/N of the starting connect and
per-path session windows, which then grow with the answers its own process sees; the parent hands a child no
more targets than its share admits. What bounds one session or one address is each child's (an address that
targets in several children share may see each child's cap), and so are the descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import os
import pickle
import signal
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from mailprobe.config import Config
from mailprobe.engine import Stages, Texts, admission_window, failed_report, indexed_stream, numbered
from mailprobe.errors import UsageError
from mailprobe.model import ErrorKind, Report
from mailprobe.progress import Progress, Step

STEPS_INTERVAL = 0.2  # seconds between a child's reports of what it waits for (the status line's redraw rate)
STEPS_SENT = 256  # steps a child reports at once, at most (the longest waits)
EXIT_GRACE = 1.0  # seconds a child that has said all it had to say gets to exit before SIGTERM
_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1
_END = ()  # parent -> child: no more targets


@dataclass(eq=False)
class _Child:
    pid: int
    sock: socket.socket
    outstanding: dict[int, str] = field(default_factory=dict)  # position -> target: handed out, no report yet
    steps: list[Step] = field(default_factory=list)  # what it last said it waits for (mirrored in Progress)
    alive: bool = True  # its socket is open: it takes targets
    failure: str = ""  # what it said before giving up
    status: int | None = None  # its wait status, once reaped
    writer: asyncio.StreamWriter | None = None  # once the parent's event loop has the socket
    reader_task: asyncio.Future[None] | None = None
    reaping: threading.Lock = field(default_factory=threading.Lock)  # the reader's thread or stop(), one at a time


class _Failed:
    """The dispatcher's error (bad input on standard input, say), carried to the stream's reader."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ForkFailed(UsageError):
    """A child could not be forked (out of processes or memory); those already started have been ended."""


class Workers:
    """N forked children, each waiting for targets; see the module docstring."""

    def __init__(self, children: list[_Child], cfg: Config, stages: Stages) -> None:
        self.children = children
        self.cfg, self.stages = cfg, stages

    @classmethod
    def fork(cls, count: int, cfg: Config, stages: Stages, *, progress: bool) -> Workers:
        """Fork `count` children now. Call it with one thread running (a fork copies only the caller's)."""
        own = replace(cfg, limits=cfg.limits.shared_by(count))
        # What every child imports anyway, imported once: N children importing it each cost N times the CPU, and
        # a port scan's children are CPU-bound while they start their connects (a thread importing the checks
        # beside them took the GIL from the loop: bench/README "Ninth session").
        importlib.import_module("mailprobe.checks.run")
        if stages.handshake:
            importlib.import_module("mailprobe.protocols.tls").load_trust_store(cfg.ca_file)
        gc.freeze()  # what is imported now is shared: no collection touches (and so copies) its pages
        children: list[_Child] = []
        for _ in range(count):
            ours, theirs = socket.socketpair()
            try:
                pid = os.fork()
            except OSError as exc:  # out of processes or memory: end those already started, say so in one line
                ours.close()
                theirs.close()
                cls(children, cfg, stages).stop()
                why = exc.strerror or exc
                raise ForkFailed(f"--jobs {count}: cannot start process {len(children) + 1}: {why}") from None
            if pid == 0:  # the child: never returns
                ours.close()
                for earlier in children:
                    earlier.sock.close()
                _child_main(theirs, own, stages, progress)
            theirs.close()
            children.append(_Child(pid, ours))
        return cls(children, own, stages)

    async def stream(self, texts: Texts, progress: Progress | None = None) -> AsyncIterator[tuple[int, Report]]:
        """(position, Report) for every target, in completion order, each position once."""
        results: asyncio.Queue[tuple[int, Report] | _Child | _Failed] = asyncio.Queue()
        room = asyncio.Event()
        for child in self.children:
            reader, child.writer = await asyncio.open_connection(sock=child.sock)
            child.reader_task = asyncio.ensure_future(self._read(child, reader, results, room, progress))
        dispatcher = asyncio.ensure_future(self._dispatch(texts, results, room))
        dispatcher.add_done_callback(lambda done: _failed(done, results))
        running = len(self.children)
        try:
            while running:
                item = await results.get()
                if isinstance(item, _Child):
                    running -= 1
                elif isinstance(item, _Failed):
                    raise item.error
                else:
                    yield item
            await dispatcher
        finally:
            dispatcher.cancel()
            for child in self.children:
                if child.reader_task is not None:
                    child.reader_task.cancel()
                if child.writer is not None:
                    child.writer.close()
            self.stop()

    async def _dispatch(
        self, texts: Texts, results: asyncio.Queue[tuple[int, Report] | _Child | _Failed], room: asyncio.Event
    ) -> None:
        """Each target to the child with the fewest unfinished ones, at most the engine's window each."""
        cap = admission_window(self.cfg, self.stages)
        async for position, text in numbered(texts):
            while True:
                alive = [child for child in self.children if child.alive]
                if not alive:  # every child is gone: this target and the rest cannot run
                    results.put_nowait((position, self._lost(text, "no worker process is left")))
                    break
                child = min(alive, key=lambda c: len(c.outstanding))
                if len(child.outstanding) < cap:
                    child.outstanding[position] = text  # from here its reader answers for it, whatever happens
                    await _send(child, (position, text))
                    break
                room.clear()
                await room.wait()
        for child in self.children:
            if child.alive:
                await _send(child, _END)

    async def _read(
        self,
        child: _Child,
        reader: asyncio.StreamReader,
        results: asyncio.Queue[tuple[int, Report] | _Child | _Failed],
        room: asyncio.Event,
        progress: Progress | None,
    ) -> None:
        while (message := await _receive(reader)) is not None:
            if message[0] == "report":
                _, position, report = message
                child.outstanding.pop(position, None)
                results.put_nowait((position, report))
                room.set()
            elif message[0] == "steps" and progress is not None:
                _mirror(child, message[1], progress)
            elif message[0] == "failed":
                child.failure = message[1]
        child.alive = False
        if progress is not None:
            _mirror(child, (), progress)
        if child.outstanding:
            why = await asyncio.to_thread(self._reap, child)
            for position, text in sorted(child.outstanding.items()):
                results.put_nowait((position, self._lost(text, why)))
            child.outstanding.clear()
        room.set()
        results.put_nowait(child)

    def _reap(self, child: _Child) -> str:
        """Reap a child whose stream ended with targets unfinished; why it went, in words."""
        _end(child, time.monotonic() + EXIT_GRACE)
        status = child.status or 0
        if child.failure:
            ended = child.failure
        elif os.WIFSIGNALED(status):
            ended = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            ended = f"exited with status {os.waitstatus_to_exitcode(status)}"
        return f"the worker process {child.pid} ended before finishing it ({ended})"

    def _lost(self, text: str, why: str) -> Report:
        return failed_report(text, self.cfg, ErrorKind.WORKER_LOST, why)

    def stop(self) -> None:
        """Reap every child: one that closed its end is leaving (it gets EXIT_GRACE seconds), the others are
        ended with SIGTERM. Our PIDs until reaped, so a signal never reaches a stranger."""
        grace = time.monotonic() + EXIT_GRACE
        for child in self.children:
            _end(child, grace if not child.alive else 0.0)
            if child.writer is None:  # else its transport owns the socket (closed with the event loop)
                child.sock.close()


def _end(child: _Child, grace: float) -> None:
    """Wait until `grace` (a time.monotonic()) for the child to exit, then end it with SIGTERM; reap it. Also a
    child whose stream ended while it still runs (an unreadable frame) is ended, never waited for forever."""
    with child.reaping, contextlib.suppress(ChildProcessError):  # the status is set by whoever reaped it
        while child.status is None and time.monotonic() < grace:
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                child.status = status
                return
            time.sleep(0.005)
        if child.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            child.status = os.waitpid(child.pid, 0)[1]


def _failed(done: asyncio.Future[None], results: asyncio.Queue[Any]) -> None:
    error = None if done.cancelled() else done.exception()
    if error is not None:
        results.put_nowait(_Failed(error))


def _mirror(child: _Child, steps: tuple[tuple[str, str, str, bool, float], ...], progress: Progress) -> None:
    """The parent's Progress holds what each child last said it waits for."""
    for step in child.steps:
        progress.end(step)
    child.steps = []
    for target, place, doing, session, since in steps:
        step = progress.begin(target, place, doing, session=session)
        step.since = since
        child.steps.append(step)


def _frame(message: Any) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


async def _send(child: _Child, message: Any) -> None:
    """A frame to a child; a child that is gone is noticed by its reader (its EOF), not here."""
    assert child.writer is not None
    try:
        child.writer.write(_frame(message))
        await child.writer.drain()
    except OSError:
        child.alive = False


async def _receive(reader: asyncio.StreamReader) -> Any:
    """The next frame's message, or None at the end of the stream (or of what can be read of it)."""
    try:
        header = await reader.readexactly(_HEADER.size)
        data = await reader.readexactly(_HEADER.unpack(header)[0])
    except (asyncio.IncompleteReadError, OSError):
        return None
    try:
        return pickle.loads(data)
    except Exception:  # the process boundary: a frame cut short by a dying process ends its stream, not the run
        return None


# -- the child -------------------------------------------------------------------------------------------------


def _child_main(sock: socket.socket, cfg: Config, stages: Stages, progress: bool) -> None:
    """A child's whole life: it never returns into the parent's code (os._exit, whatever happens)."""
    code = 70
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
        _die_with_parent()
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)  # the parent reads the targets and writes the output
        os.dup2(devnull, 1)
        asyncio.run(_serve(sock, cfg, stages, progress))
        code = 0
    finally:  # whatever happened (_serve told the parent what failed): never back into the parent's code
        os._exit(code)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG (Linux): SIGTERM when the parent dies; elsewhere the socket's EOF does it."""
    import ctypes  # here, in each child at once, not in the parent's start-up

    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent went before the call took effect
        os._exit(0)


async def _serve(sock: socket.socket, cfg: Config, stages: Stages, with_progress: bool) -> None:
    reader, writer = await asyncio.open_connection(sock=sock)
    positions: dict[int, int] = {}  # the engine's index -> the run's position
    progress = Progress() if with_progress else None

    async def texts() -> AsyncIterator[str]:
        index = 0
        while True:
            message = await _receive(reader)
            if message is None:
                os._exit(0)  # the parent is gone (its end of the socket closed): nobody to report to
            if message == _END:
                return
            position, text = message
            positions[index] = position
            index += 1
            yield text

    async def tell_steps(progress: Progress) -> None:
        while True:
            await asyncio.sleep(STEPS_INTERVAL)
            steps = sorted(progress.steps(), key=lambda s: (not s.session, s.since))[:STEPS_SENT]
            writer.write(_frame(("steps", tuple((s.target, s.place, s.doing, s.session, s.since) for s in steps))))

    ticker = asyncio.ensure_future(tell_steps(progress)) if progress is not None else None
    try:
        async for index, report in indexed_stream(texts(), cfg, stages, progress=progress):
            writer.write(_frame(("report", positions.pop(index), report)))
            await writer.drain()
    except Exception as exc:  # the child's boundary: the parent reports its unfinished targets with this
        writer.write(_frame(("failed", f"it failed: {exc!r}")))
        await writer.drain()
        raise
    finally:
        if ticker is not None:
            ticker.cancel()
    writer.close()
    await writer.wait_closed()
