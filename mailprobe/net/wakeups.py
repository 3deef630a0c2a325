"""Many deadlines on one event-loop timer (the scanners' per-try timeouts: thousands at once, one TimerHandle).

    wakeups = Wakeups(loop, on_due)      on_due(item, tag, now) is called for each deadline that has passed,
    wakeups.at(due, item, tag)           earliest first; it may call `at` again (a later look at the item)
    wakeups.close()

`tag` lets the caller tell a stale deadline from the current one (the try it was set for).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Wakeups(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, on_due: Callable[[T, int, float], None]) -> None:
        self._loop = loop
        self._on_due = on_due
        self._heap: list[tuple[float, int, T, int]] = []
        self._order = itertools.count()  # ties in time keep their order; items are never compared
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = 0.0

    def at(self, due: float, item: T, tag: int) -> None:
        heapq.heappush(self._heap, (due, next(self._order), item, tag))
        self._wake_by(due)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()

    def _wake_by(self, due: float) -> None:
        if self._handle is not None and self._handle_at <= due:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = due
        self._handle = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._handle = None
        now = self._loop.time()
        while self._heap and self._heap[0][0] <= now:
            _due, _order, item, tag = heapq.heappop(self._heap)
            self._on_due(item, tag, now)
        if self._heap:  # the earliest left, even when on_due set a later one meanwhile
            self._wake_by(self._heap[0][0])
