"""How long a silent port is worth waiting for: learnt from the round trips of answers on the same path.

RFC 6298 / nmap smoothing (srtt, rttvar) at three levels, the most specific with samples wins: the address
itself, its path (the /24 or /48 it sits in: addresses there almost always share the route and its
delays), and the whole run's answers of its address family (an IPv6 route is not the IPv4 one: borrowing
IPv4's round trips for a first IPv6 try would call ports filtered while the IPv6 neighbours are still being
resolved). One estimator serves a whole run, across targets, as nmap shares timing per
host group; the port scan's samples therefore also shorten the handshake stage's connect timeouts. Between
a floor (jitter dominates below it) and the ceiling (the user's --timeout). Pure arithmetic, no sockets.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

RTT_FLOOR = 0.1  # seconds; below this, jitter dominates and retransmissions would be wasted
RTT_MULTIPLE = 2.0  # a silent port is given at least this many smoothed round trips
INITIAL_TIMEOUT = 1.0  # before any round trip is measured (nmap's default initial RTT timeout)
RETRY_BACKOFF = 1.0  # the retry of a silent port waits as long as the first try (nmap: the current timeout)
# Tries of a silent port: two (one retry, as nmap's -T4 connect scan) on a path where no answer needed more;
# once a port there answered only its n-th try (its SYNs were lost, e.g. to a full accept queue), n + 1
# (nmap's max_successful_tryno + 1), each extra try waiting LOSS_BACKOFF times the one before, at most MAX_TRIES.
TRIES, MAX_TRIES, LOSS_BACKOFF = 2, 4, 2.0
ADDRESS_MEMORY = 4096  # addresses whose own statistics are kept (least recently seen forgotten first)


@dataclass(slots=True)
class _Smoothed:
    srtt: float
    rttvar: float

    def update(self, sample: float) -> None:
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
        self.srtt = 0.875 * self.srtt + 0.125 * sample


@lru_cache(maxsize=ADDRESS_MEMORY)
def path_of(address: str) -> bytes | None:
    """The network an address shares its path with (/24 IPv4, /48 IPv6), as its packed prefix; None for a
    non-address. Asked per packet in raw mode: no ipaddress objects."""
    for family, prefix in ((socket.AF_INET, 3), (socket.AF_INET6, 6)):
        try:
            return bytes([prefix]) + socket.inet_pton(family, address.split("%", 1)[0])[:prefix]
        except OSError:
            continue
    return None


class RttEstimator:
    """Round-trip statistics per address, per path and for the whole run; timeouts follow them.

    With no sample at all the initial timeout applies (1 s, as nmap; backed off on the retry), never more
    than the ceiling (the configured connect timeout).
    """

    def __init__(self, ceiling: float, floor: float = RTT_FLOOR, initial: float = INITIAL_TIMEOUT) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.initial = min(initial, ceiling)
        self._hosts: OrderedDict[str, _Smoothed] = OrderedDict()
        self._paths: dict[bytes, _Smoothed] = {}
        self._global: _Smoothed | None = None  # every answer: the run's pace (asked with a non-address)
        self._families: dict[int, _Smoothed] = {}  # the run's answers per address family (path_of's first byte)
        self._answered_on: dict[bytes | str, int] = {}  # path -> the latest try that got an answer there

    def _path(self, host: str) -> bytes | None:
        return path_of(host)

    def observe(self, host: str, rtt: float, tries: int = 1) -> None:
        """An answer from `host` after `rtt` seconds, to its `tries`-th try (a later try: SYNs were lost)."""
        rtt = max(rtt, 0.0)
        known = self._hosts.get(host)
        if known is None:
            self._hosts[host] = _Smoothed(rtt, rtt / 2)
            if len(self._hosts) > ADDRESS_MEMORY:
                self._hosts.popitem(last=False)
        else:
            known.update(rtt)
            self._hosts.move_to_end(host)
        path = self._path(host)
        if tries > self._answered_on.get(path or host, 1):
            self._answered_on[path or host] = tries
        if path is not None:
            on_path = self._paths.get(path)
            if on_path is None:
                self._paths[path] = _Smoothed(rtt, rtt / 2)
            else:
                on_path.update(rtt)
            family = self._families.get(path[0])
            if family is None:
                self._families[path[0]] = _Smoothed(rtt, rtt / 2)
            else:
                family.update(rtt)
        if self._global is None:
            self._global = _Smoothed(rtt, rtt / 2)
        else:
            self._global.update(rtt)

    def tries(self, host: str) -> int:
        """Tries a silent port of `host` is given before it is called filtered (see TRIES)."""
        needed = self._answered_on.get(self._path(host) or host, 1)
        return min(MAX_TRIES, max(TRIES, needed + 1))

    def heard_from(self, host: str) -> bool:
        """Has `host` itself answered a connect (SYN-ACK or RST) in this run (among the addresses remembered)?"""
        return host in self._hosts

    def _stats(self, host: str) -> _Smoothed | None:
        own = self._hosts.get(host)
        if own is not None:
            return own
        path = self._path(host)
        if path is None:
            return self._global
        return self._paths.get(path) or self._families.get(path[0])

    def settled(self, host: str) -> bool:
        """True once a round trip is known for this host, its path or its family (the timeout then only
        drifts with new samples; before, it drops from the initial value at the first answer)."""
        return self._stats(host) is not None

    def timeout(self, host: str, attempt: int = 0) -> float:
        """Seconds to wait for a SYN answer on try `attempt` + 1 (back-off after the first retry), at most the
        ceiling."""
        stats = self._stats(host)
        if stats is None:
            base = self.initial
        else:
            base = max(stats.srtt + 4 * stats.rttvar, RTT_MULTIPLE * stats.srtt, self.floor)
        backoff = RETRY_BACKOFF * LOSS_BACKOFF ** (attempt - 1) if attempt else 1.0
        return min(self.ceiling, base * backoff)

    def srtt(self, host: str) -> float | None:
        stats = self._stats(host)
        return None if stats is None else stats.srtt
