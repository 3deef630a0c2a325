"""How much may be in flight: descriptor budgets, a FIFO pool of descriptors, per-address caps.

The descriptor budget is RLIMIT_NOFILE less what is already open and a reserve; `raise_fd_limit` first lifts
the soft limit to the hard one, as a scanner should. `Slots` hands out counted slots first come, first
served (a session needing three descriptors is not starved by probes needing one); callback-driven users
take slots with `try_take` and ask `when_free`. `LaunchGate` lets a few connects start per turn of the event
loop. `HostLimiter` caps work per address and forgets an address once nothing holds or waits for it, so
memory stays flat over a long run. Adaptive timeouts live in net/timing.py, session windows in net/window.py.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections import deque
from collections.abc import Callable
from types import TracebackType

from mailprobe.net.timing import INITIAL_TIMEOUT, RTT_FLOOR, RttEstimator

__all__ = [
    "FD_RESERVE",
    "INITIAL_TIMEOUT",
    "RTT_FLOOR",
    "HostLimiter",
    "LaunchGate",
    "RttEstimator",
    "Slots",
    "current_fd_budget",
    "fd_budget",
    "raise_fd_limit",
]

FD_RESERVE = 12  # for DNS, logging, the event loop and whatever else the process opens meanwhile


def fd_budget(soft_limit: int, open_fds: int, reserve: int = FD_RESERVE) -> int:
    """Sockets we may still open: the soft limit less the descriptors in use and a reserve (at least 1)."""
    if soft_limit < 0 or soft_limit == resource.RLIM_INFINITY:
        soft_limit = 1 << 20
    return max(1, soft_limit - open_fds - reserve)


def open_fd_count() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 16  # a typical process's share; the reserve absorbs the error


def raise_fd_limit() -> int:
    """Lift the soft descriptor limit to the hard limit (allowed without privileges); the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def current_fd_budget(reserve: int = FD_RESERVE) -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return fd_budget(soft, open_fd_count(), reserve)


class Slots:
    """A pool of `capacity` slots taken `count` at a time, strictly first come, first served.

    `async with slots.hold(n):` waits until n slots are free and no earlier request is still waiting.
    A request larger than the pool takes the whole pool (it must still be able to run).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.free = self.capacity
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._listeners: list[Callable[[], None]] = []

    def try_take(self, count: int = 1) -> bool:
        """Take `count` slots now if that jumps no queue; for callback-driven users (the connect scanner)."""
        count = min(max(1, count), self.capacity)
        if self._waiting or self.free < count:
            return False
        self.free -= count
        return True

    def when_free(self, callback: Callable[[], None]) -> None:
        """Call `callback` once, the next time slots are released and no waiter is ahead of it."""
        self._listeners.append(callback)

    def hold(self, count: int = 1) -> _Held:
        return _Held(self, min(max(1, count), self.capacity))

    @property
    def in_use(self) -> int:
        return self.capacity - self.free

    async def acquire(self, count: int) -> None:
        if not self._waiting and self.free >= count:
            self.free -= count
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (count, granted)
        self._waiting.append(entry)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(count)  # granted as we were cancelled: give it back
            else:
                self._waiting.remove(entry)
                self._grant()  # we may have been the head holding others back
            raise

    def release(self, count: int) -> None:
        self.free += count
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._waiting[0][0] <= self.free:
            count, granted = self._waiting.popleft()
            self.free -= count
            granted.set_result(None)
        if self._listeners and not self._waiting and self.free > 0:
            listeners, self._listeners = self._listeners, []
            for callback in listeners:
                callback()


class _Held:
    __slots__ = ("_count", "_slots")

    def __init__(self, slots: Slots, count: int) -> None:
        self._slots, self._count = slots, count

    async def __aenter__(self) -> None:
        await self._slots.acquire(self._count)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._slots.release(self._count)


class LaunchGate:
    """At most `per_turn` connects started per turn of the event loop.

    A thousand connects started in one turn would keep the loop from reading answers for their whole CPU
    time, and every round trip measured meanwhile would come out too long (and with it every timeout).
    """

    def __init__(self, per_turn: int) -> None:
        self.per_turn = max(1, per_turn)
        self._left = self.per_turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._refill_due = False

    async def wait(self) -> None:
        self._schedule_refill()
        if self._left > 0 and not self._waiting:
            self._left -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._left += 1
            else:
                self._waiting.remove(turn)
            raise

    def try_pass(self) -> bool:
        """wait() without waiting: True when this turn's budget has room (and takes it), else False."""
        self._schedule_refill()
        if self._left > 0 and not self._waiting:
            self._left -= 1
            return True
        return False

    def _schedule_refill(self) -> None:
        if not self._refill_due:
            self._refill_due = True
            asyncio.get_running_loop().call_soon(self._refill)

    def _refill(self) -> None:
        """Runs on the next turn, after the loop has polled for I/O."""
        self._refill_due = False
        self._left = self.per_turn
        while self._left and self._waiting:
            self._left -= 1
            self._waiting.popleft().set_result(None)
        if self._waiting:
            self._schedule_refill()


class HostLimiter:
    """At most `per_host` holders per address; `limiter(address)` is an async context manager.

    An address's entry exists only while something holds or waits for it.
    """

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self._pools: dict[str, tuple[Slots, list[int]]] = {}  # address -> (slots, [users])

    def __call__(self, address: str) -> _HostHeld:
        return _HostHeld(self, address)

    def _enter(self, address: str) -> Slots:
        entry = self._pools.get(address)
        if entry is None:
            entry = self._pools[address] = (Slots(self.per_host), [0])
        entry[1][0] += 1
        return entry[0]

    def _leave(self, address: str) -> None:
        entry = self._pools[address]
        entry[1][0] -= 1
        if entry[1][0] == 0:
            del self._pools[address]

    def tracked(self) -> int:
        """Addresses with an entry now (for tests: it returns to 0 when a run is idle)."""
        return len(self._pools)


class _HostHeld:
    __slots__ = ("_address", "_limiter", "_slots")

    def __init__(self, limiter: HostLimiter, address: str) -> None:
        self._limiter, self._address = limiter, address
        self._slots: Slots | None = None

    async def __aenter__(self) -> None:
        self._slots = self._limiter._enter(self._address)
        try:
            await self._slots.acquire(1)
        except BaseException:
            self._limiter._leave(self._address)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._slots is not None
        self._slots.release(1)
        self._limiter._leave(self._address)
