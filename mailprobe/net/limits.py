"""How many probes may be in flight, and how long a silent port is worth waiting for.

Concurrency is the smallest of: the configured global limit, the process's file-descriptor budget
(RLIMIT_NOFILE minus what is already open, minus a reserve), and a per-host cap. Timeouts adapt to the round
trips measured on ports that answered (RFC 6298 / nmap: srtt + 4 * rttvar), between a floor and the
configured connect timeout. The arithmetic here is pure so tests can drive it without sockets.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections import defaultdict
from dataclasses import dataclass

FD_RESERVE = 32  # for DNS, logging, the event loop and whatever else the process opens meanwhile
SCAN_PER_HOST = 32  # a port scan needs only a SYN per port; handshakes keep Limits.per_host
RTT_FLOOR = 0.1  # seconds; below this, jitter dominates and retransmissions would be wasted
RTT_MULTIPLE = 3.0  # a silent port is given at least this many smoothed round trips
INITIAL_TIMEOUT = 1.0  # before any round trip is measured (nmap's default initial RTT timeout)


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


def current_fd_budget(reserve: int = FD_RESERVE) -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return fd_budget(soft, open_fd_count(), reserve)


def concurrency_cap(requested: int, budget: int, work_items: int) -> int:
    """Workers to start: never more than asked, than descriptors allow, or than there is work."""
    return max(1, min(requested, budget, max(work_items, 1)))


@dataclass(slots=True)
class _Smoothed:
    srtt: float
    rttvar: float

    def update(self, sample: float) -> None:
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
        self.srtt = 0.875 * self.srtt + 0.125 * sample


class RttEstimator:
    """Round-trip statistics per host and for the whole run; the timeout for a silent port follows them.

    A host with its own samples uses them; a host without uses the run's; with no sample at all the
    initial timeout applies (1 s, as nmap; backed off on the retry), never more than the ceiling (the
    configured connect timeout).
    """

    def __init__(self, ceiling: float, floor: float = RTT_FLOOR, initial: float = INITIAL_TIMEOUT) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.initial = min(initial, ceiling)
        self._hosts: dict[str, _Smoothed] = {}
        self._global: _Smoothed | None = None

    def observe(self, host: str, rtt: float) -> None:
        rtt = max(rtt, 0.0)
        known = self._hosts.get(host)
        if known is None:
            self._hosts[host] = _Smoothed(rtt, rtt / 2)
        else:
            known.update(rtt)
        if self._global is None:
            self._global = _Smoothed(rtt, rtt / 2)
        else:
            self._global.update(rtt)

    def timeout(self, host: str, attempt: int = 0) -> float:
        """Seconds to wait for a SYN answer; doubled on each retry (back-off), never above the ceiling."""
        stats = self._hosts.get(host) or self._global
        if stats is None:
            base = self.initial
        else:
            base = max(stats.srtt + 4 * stats.rttvar, RTT_MULTIPLE * stats.srtt, self.floor)
        return min(self.ceiling, base * float(1 << attempt))

    def srtt(self, host: str) -> float | None:
        stats = self._hosts.get(host) or self._global
        return None if stats is None else stats.srtt


class HostLimiter:
    """A semaphore per host, created on first use."""

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self._sems: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(self.per_host))

    def __call__(self, host: str) -> asyncio.Semaphore:
        return self._sems[host]
