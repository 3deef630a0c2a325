"""The status line: while a run goes on, one line on stderr saying what it waits for.

    [3/10] mx1.example.org 587: waiting for greeting (3.1 s) · 5 more in flight

Shown only when stderr is a terminal and CI is unset (never in a pipe, a file or a CI log), once the run is
SHOW_AFTER seconds old, redrawn every INTERVAL seconds from the run's mailprobe.progress.Progress (the step
that has waited longest), erased when the run ends. rich draws it; everything else written to the
terminal meanwhile goes through `above()`, which erases the line first (the next tick draws it again).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from mailprobe.progress import Progress

if TYPE_CHECKING:
    from rich.live import Live

T = TypeVar("T")
SHOW_AFTER = 1.0  # seconds: a run quicker than this never shows a status line
INTERVAL = 0.2  # seconds between redraws


def wanted() -> bool:
    """A person is watching: stderr is a terminal, not CI, not a dumb terminal."""
    return sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class StatusLine:
    """The line for one run; `start()` on the run's event loop, `stop()` when it ends (also when interrupted)."""

    def __init__(self, total: int | None) -> None:
        self.progress = Progress()
        self.total = total
        self.done = 0
        self._began = time.monotonic()
        self._live: Live | None = None
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        await asyncio.sleep(max(0.0, SHOW_AFTER - (time.monotonic() - self._began)))
        while True:
            self.draw()
            await asyncio.sleep(INTERVAL)

    def text(self) -> str:
        from mailprobe.report.escape import terminal_safe

        longest = self.progress.longest()
        count = "" if self.total == 1 else f"[{self.done}/{self.total if self.total is not None else '?'}] "
        what = longest.describe() if longest is not None else "writing the report"
        alike = [s for s in self.progress.steps() if longest is not None and s.session is longest.session]
        kind = "session" if longest is not None and longest.session else "target"
        more = f" · {len(alike) - 1} more {kind}{'s' if len(alike) > 2 else ''} in flight" if len(alike) > 1 else ""
        return terminal_safe(count + what + more)

    def draw(self) -> None:
        from rich.text import Text

        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=sys.stderr, highlight=False, markup=False, emoji=False)
            self._live = Live(
                console=console, transient=True, auto_refresh=False, redirect_stdout=False, redirect_stderr=False
            )
            self._live.start()
        self._live.update(Text(self.text(), no_wrap=True, overflow="ellipsis"), refresh=True)

    @contextmanager
    def above(self) -> Iterator[None]:
        """Write something else to the terminal: the line is erased first and drawn again on the next tick."""
        if self._live is not None:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
        yield

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._live is not None:
            self._live.stop()
            self._live = None


@contextmanager
def above(status: StatusLine | None) -> Iterator[None]:
    """`status.above()`, or nothing when there is no status line."""
    if status is None:
        yield
    else:
        with status.above():
            yield


async def showing(work: Awaitable[T], place: str, doing: str) -> T:
    """`work` under a status line of one step, on a terminal (runs that are one piece: egress, demo, trace)."""
    if not wanted():
        return await work
    status = StatusLine(total=1)
    status.progress.begin(place, place, doing)
    status.start()
    try:
        return await work
    finally:
        status.stop()
