"""Work whose answer is the same for every target of a run that asks for it: done once, its future shared.

Domains hosted together name the same MX hosts: an audit of 500 domains at one provider would otherwise
probe the same address's ports and run the same sessions 500 times, slower and harder on that server (a
server swamped by our own repeats then answers late, and its ports look filtered). The scheduler keys
port probes by (address, port) and sessions by their Target, for what DNS led to (a target the user listed
twice is probed twice, as asked).

Bounded in memory and in age: at most `memory` finished answers are kept (the least recently asked go first),
and an answer older than `max_age` seconds is asked again, so a long run does not report a port as it was
an hour before. Pure bookkeeping over futures: no sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_AGE = 600.0  # seconds an answer is shared for


class SharedWork(Generic[K, V]):
    """`get(key)` a future started earlier in the run (None when there is none to share); `put(key, future)`."""

    def __init__(self, memory: int, max_age: float = MAX_AGE) -> None:
        self.memory = max(1, memory)
        self.max_age = max_age
        self._entries: OrderedDict[K, tuple[asyncio.Future[V], float]] = OrderedDict()

    def get(self, key: K) -> asyncio.Future[V] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        future, started = entry
        if future.cancelled() or time.monotonic() - started > self.max_age:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return future

    def put(self, key: K, future: asyncio.Future[V]) -> None:
        self._entries[key] = (future, time.monotonic())
        self._entries.move_to_end(key)
        if len(self._entries) > self.memory:
            self._forget_finished()

    def _forget_finished(self) -> None:
        """The oldest finished entries, until `memory` are left (running ones stay: others may be waiting)."""
        excess = len(self._entries) - self.memory
        finished: list[K] = []
        for key, (future, _) in self._entries.items():  # oldest first: usually the first `excess` are done
            if len(finished) == excess:
                break
            if future.done():
                finished.append(key)
        for key in finished:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def cancel_running(self) -> None:
        """At the end of the run: nothing it started outlives it."""
        for future, _ in self._entries.values():
            future.cancel()
        self._entries.clear()
