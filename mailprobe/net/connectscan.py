"""Connect probes for a whole run, without a task or a coroutine per probe.

The same probe as net/connect.py (a non-blocking connect with IP_RECVERR; open, closed, filtered after one
retry or more where SYNs get lost (net/timing.py TRIES), unreachable with the ICMP sender), driven the way
net/synscan.py drives SYNs: a queue started at most `per_turn` connects per turn of the event loop (answers
are read between bursts, so the round trips measured are the network's, not our CPU's), one descriptor from
the run's pool per socket, a writer callback per socket and one timer for the earliest deadline. The sockets
wait in an epoll set of the scanner's own, which the event loop watches as one descriptor: registering a
socket there costs a system call, where asyncio's add_writer/remove_writer cost several times that in Python
per probe. A silent try is given up after the timeout learnt for its path (RttEstimator), looked at again
every TICK while no round trip is known.

How many connects may be in flight follows nmap's congestion control: a window that doubles per round of
answers (slow start) and halves when a port answers only its retry, i.e. its first SYN was lost. A port that
answers neither try (filtered) says nothing about congestion; a busy server whose full accept queue drops SYNs
does, and the scan then slows down instead of calling its ports filtered.
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
from collections import deque
from dataclasses import dataclass

from mailprobe.errors import UnsafeTargetError
from mailprobe.model import PortResult, PortState, Service
from mailprobe.net import guard
from mailprobe.net.connect import (
    EMFILE_WAIT,
    TICK,
    Answer,
    Attempt,
    _classify_failure,
    _start_connect,
    handshake_rtt,
    result_from,
    sockaddr_for,
)
from mailprobe.net.icmp import RECVERR_OPTION, read_error_queue
from mailprobe.net.limits import LaunchGate, Slots
from mailprobe.net.timing import RttEstimator
from mailprobe.net.wakeups import Wakeups

_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_RESET_ON_CLOSE = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER 0: a RST, no TIME_WAIT left behind
EMFILE_TRIES = 100
# Connects in flight at first (it doubles each round of answers), and at least. The ports that answer neither
# try hold their slots for two timeouts, so a scan's window fills with silence: at 512 (and a run-wide cap of
# 1,024) the children of a 256-address scan waited for slots; 1,024 (cap 2,048) took 0.64 s against 0.72 s
# (bench/README "Ninth session"). 1,024 SYNs are ~60 KB, and they leave at the pace of connect() calls
# (7-14 per ms per process here), not in one burst.
WINDOW_START, WINDOW_FLOOR = 1024, 8
_SOCKET_TYPE = int(socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)  # enum arithmetic once


@dataclass(eq=False, slots=True)
class _Probe:
    host: str
    address: str
    port: int
    service: Service | None
    family: int
    sockaddr: tuple[str, int] | tuple[str, int, int, int]
    done: asyncio.Future[PortResult]
    tries: int = 0
    first: float = 0.0
    started: float = 0.0  # this try
    sock: socket.socket | None = None
    starved: int = 0  # times socket() failed for want of descriptors


class ConnectScanner:
    """`submit(...)` a probe, await its future; `close()` at the end of the run."""

    def __init__(
        self, timing: RttEstimator, fds: Slots, per_turn: int, max_in_flight: int, start: int = WINDOW_START
    ) -> None:
        """`start`: connects in flight at first (a run spread over processes gives each its share)."""
        self.timing = timing
        self.fds = fds
        self.per_turn = max(1, per_turn)
        self.max_in_flight = max(1, max_in_flight)
        self.window = float(min(max(WINDOW_FLOOR, start), self.max_in_flight))
        self._slow_start = True
        self._cut_at = float("-inf")
        self._loop = asyncio.get_running_loop()
        self._queue: deque[_Probe] = deque()
        self._pump_due = False
        self._gate = LaunchGate(self.per_turn)
        self._waiting_for_fds = False
        self._wakeups: Wakeups[_Probe] = Wakeups(self._loop, self._due)
        self._live: set[_Probe] = set()
        self._epoll = select.epoll()
        self._waiting: dict[int, _Probe] = {}  # fd -> the probe whose connect it waits for
        self._loop.add_reader(self._epoll.fileno(), self._ready)

    def submit(self, host: str, address: str, port: int, service: Service | None) -> asyncio.Future[PortResult]:
        done: asyncio.Future[PortResult] = self._loop.create_future()
        try:
            family, sockaddr = sockaddr_for(address, port)
        except ValueError as exc:
            done.set_result(PortResult(host, address, port, PortState.ERROR, str(exc), 0.0, service))
            return done
        self._queue.append(_Probe(host, address, port, service, family, sockaddr, done))
        self._launch()  # at once while this turn's budget lasts: the first SYNs leave before the last target is read
        return done

    @property
    def in_flight(self) -> int:
        """Connects started and not yet answered or given up."""
        return len(self._live)

    def close(self) -> None:
        self._loop.remove_reader(self._epoll.fileno())
        self._wakeups.close()
        for probe in list(self._live):
            self._drop_socket(probe)
            probe.done.cancel()
        for probe in self._queue:
            probe.done.cancel()
        self._queue.clear()
        self._epoll.close()

    # ---- starting connects -------------------------------------------------------------------------------

    def _schedule_pump(self, delay: float = 0.0) -> None:
        if not self._pump_due:
            self._pump_due = True
            if delay:
                self._loop.call_later(delay, self._pump)
            else:
                self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._pump_due = False
        self._launch()

    def _launch(self) -> None:
        """Start up to per_turn connects a turn, each holding one descriptor from the pool; come back next turn."""
        while self._queue:
            probe = self._queue[0]
            if probe.done.done():  # cancelled by its caller
                self._queue.popleft()
                continue
            if len(self._live) >= int(self.window):
                return  # a finishing probe pumps again
            if not self.fds.try_take(1):
                if not self._waiting_for_fds:
                    self._waiting_for_fds = True
                    self.fds.when_free(self._fds_freed)
                return
            if not self._gate.try_pass():
                self.fds.release(1)
                break  # this turn's budget is spent: the next turn's pump goes on
            self._queue.popleft()
            if not self._start(probe):
                return  # out of descriptors after all: _start came back later
        if self._queue:
            self._schedule_pump()

    def _fds_freed(self) -> None:
        self._waiting_for_fds = False
        self._schedule_pump()

    def _start(self, probe: _Probe) -> bool:
        """One try; False when the process had no descriptor to give (the probe waits at the queue's head)."""
        try:
            guard.check(probe.address)
        except UnsafeTargetError as exc:
            self.fds.release(1)
            reason = f"refused by safety guard: {exc}"
            error = PortResult(probe.host, probe.address, probe.port, PortState.BLOCKED, reason, 0.0, probe.service)
            self._settle(probe, error)
            return True
        try:
            sock = socket.socket(probe.family, _SOCKET_TYPE)
        except OSError as exc:
            self.fds.release(1)
            if exc.errno in _OUT_OF_DESCRIPTORS and probe.starved < EMFILE_TRIES:
                probe.starved += 1
                self._queue.appendleft(probe)
                self._schedule_pump(EMFILE_WAIT)
                return False
            self._conclude(probe, Attempt(Answer.LOCAL, 0.0, exc.errno or 0))
            return True
        now = self._loop.time()
        probe.tries += 1
        probe.first = probe.first or now
        probe.started, probe.sock = now, sock
        self._live.add(probe)
        sock.setsockopt(*RECVERR_OPTION[probe.family], 1)  # enable_recverr, without asking the socket its family
        code = _start_connect(sock, probe.sockaddr)
        if code == errno.EINPROGRESS:
            fd = sock.fileno()
            self._epoll.register(fd, select.EPOLLOUT | select.EPOLLONESHOT)
            self._waiting[fd] = probe
            self._arm(probe, now)
        elif code == 0:
            self._answered(probe, Attempt(Answer.SYN_ACK, 0.0))
        else:
            self._answered(probe, _classify_failure(code, sock, 0.0))
        return True

    # ---- answers and silence -----------------------------------------------------------------------------

    def _ready(self) -> None:
        """Sockets whose connect finished (connected or failed), as many as the epoll set has now."""
        for fd, _events in self._epoll.poll(0, 1024):
            probe = self._waiting.pop(fd, None)
            if probe is not None:
                self._writable(probe)

    def _writable(self, probe: _Probe) -> None:
        sock = probe.sock
        if sock is None:
            return
        waited = self._loop.time() - probe.started
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code == 0:
            self._answered(probe, Attempt(Answer.SYN_ACK, handshake_rtt(sock, waited)))
        else:
            self._answered(probe, _classify_failure(code, sock, waited))

    def _answered(self, probe: _Probe, attempt: Attempt) -> None:
        if attempt.answer in (Answer.SYN_ACK, Answer.REFUSED):
            self.timing.observe(probe.address, attempt.rtt, probe.tries)
            self._adjust_window(lost=probe.tries > 1)
        if attempt.answer is Answer.SYN_ACK and probe.sock is not None:
            probe.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
        self._drop_socket(probe)
        self._conclude(probe, attempt)

    def _adjust_window(self, lost: bool) -> None:
        """AIMD: halve when a first SYN was lost (at most once per timeout), else grow."""
        if lost:
            now = self._loop.time()
            if now - self._cut_at >= self.timing.timeout(""):
                self._cut_at, self._slow_start = now, False
                self.window = max(float(WINDOW_FLOOR), self.window / 2)
            return
        grown = self.window + (1.0 if self._slow_start else 1.0 / self.window)
        self.window = min(float(self.max_in_flight), grown)

    def _arm(self, probe: _Probe, now: float) -> None:
        due = probe.started + self.timing.timeout(probe.address, probe.tries - 1)
        if not self.timing.settled(probe.address):
            due = min(due, now + TICK)
        self._wakeups.at(due, probe, probe.tries)

    def _due(self, probe: _Probe, tries: int, now: float) -> None:
        if probe.sock is None or probe.tries != tries:
            return  # answered meanwhile
        if probe.started + self.timing.timeout(probe.address, tries - 1) > now:
            self._arm(probe, now)  # the estimate grew, or it was only a look while unsettled
            return
        # A soft ICMP error may have been queued without aborting the connect: it still counts.
        queued = read_error_queue(probe.sock)
        icmp = queued.icmp_info() if queued is not None else None
        rtt = now - probe.started
        self._drop_socket(probe)
        self._conclude(probe, Attempt(Answer.ICMP, rtt, 0, icmp) if icmp else Attempt(Answer.SILENT, rtt))

    def _drop_socket(self, probe: _Probe) -> None:
        sock, probe.sock = probe.sock, None
        if sock is None:
            return
        self._live.discard(probe)
        self._waiting.pop(sock.fileno(), None)  # closing the socket takes it out of the epoll set
        sock.close()
        self.fds.release(1)
        if self._queue:
            self._schedule_pump()

    def _conclude(self, probe: _Probe, attempt: Attempt) -> None:
        """Settle the probe, or send it again (first in line) when it was silent and has a try left."""
        if attempt.answer is Answer.SILENT and probe.tries < self.timing.tries(probe.address) and not probe.done.done():
            self._queue.appendleft(probe)
            self._schedule_pump()
            return
        elapsed = self._loop.time() - probe.first if probe.first else 0.0
        result = result_from(probe.host, probe.address, probe.port, attempt, elapsed, probe.tries, probe.service)
        self._settle(probe, result)

    @staticmethod
    def _settle(probe: _Probe, result: PortResult) -> None:
        if not probe.done.done():
            probe.done.set_result(result)
