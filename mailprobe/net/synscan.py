"""Raw SYN scanning for a whole run, the way nmap -sS does it: one raw socket per address family sends every
SYN at a paced rate, the same sockets (and one ICMP socket per family) receive every answer, and each answer
is matched to its probe by (probed address, probed port, our source port) and the probe's sequence number.
No socket, task or thread per probe: a send queue drained by a token bucket, a timer for the earliest
deadline, and read callbacks. Root (CAP_NET_RAW) only; the guard is asked before every SYN.

Silent probes are sent once more after a timeout learnt from the run's round trips (the shared
RttEstimator), then called filtered. The kernel answers the servers' SYN-ACKs with a RST, as for nmap.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import random
import socket
import sys
from collections import deque
from dataclasses import dataclass, field

from mailprobe.errors import UnsafeTargetError
from mailprobe.model import PortResult, PortState, Service
from mailprobe.net import guard
from mailprobe.net.connect import TICK, Answer, Attempt, result_from
from mailprobe.net.packets import Answer as Reply
from mailprobe.net.packets import Kind, parse_icmpv6, parse_ipv4, parse_ipv6_tcp, result_for, syn_segment
from mailprobe.net.timing import RttEstimator, path_of
from mailprobe.net.wakeups import Wakeups

PORT_BASE, PORT_SPAN = 20000, 12000  # our source ports: below Linux's ephemeral range, so no real connection
RECEIVE_BUFFER = 4 << 20
SO_RCVBUFFORCE = 33  # Linux; root may exceed net.core.rmem_max with it (the socket module lacks the name)
BURST_SECONDS = 0.005  # the token bucket holds this many seconds' worth of SYNs


def _hop_limit(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder)
    return None


@dataclass(eq=False, slots=True)
class _Probe:
    host: str
    address: str
    packed: bytes
    port: int
    service: Service | None
    done: asyncio.Future[PortResult]
    sent: list[float] = field(default_factory=list)  # loop time of each try
    keys: list[tuple[bytes, int, int]] = field(default_factory=list)


class SynScanner:
    """`submit(...)` a probe, await its future; `close()` at the end of the run."""

    def __init__(self, timing: RttEstimator, rate: float, max_outstanding: int) -> None:
        self.timing = timing
        self.rate = max(1.0, rate)
        self.max_outstanding = max(1, max_outstanding)
        self._loop = asyncio.get_running_loop()
        self._tcp: dict[int, socket.socket] = {}
        self._icmp: dict[int, socket.socket] = {}
        self._family_error: dict[int, str] = {}
        self._queue: deque[_Probe] = deque()
        self._keys: dict[tuple[bytes, int, int], tuple[_Probe, int, int]] = {}  # key -> (probe, try, seq)
        self._outstanding = 0
        self._wakeups: Wakeups[_Probe] = Wakeups(self._loop, self._due)
        self._pump_handle: asyncio.Handle | None = None
        self._tokens, self._last = 1.0, self._loop.time()
        self._sources: dict[bytes | str, bytes | str] = {}
        self._ports = itertools.cycle(range(PORT_BASE, PORT_BASE + PORT_SPAN))
        self._open_sockets()

    # ---- sockets -------------------------------------------------------------------------------------------

    def _open_sockets(self) -> None:
        families = ((4, socket.AF_INET, socket.IPPROTO_ICMP), (6, socket.AF_INET6, socket.IPPROTO_ICMPV6))
        for version, family, icmp_proto in families:
            try:
                tcp = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
                icmp = socket.socket(family, socket.SOCK_RAW, icmp_proto)
            except OSError as exc:
                self._family_error[version] = f"raw IPv{version} sockets unavailable: {exc.strerror or exc}"
                continue
            for sock in (tcp, icmp):
                sock.setblocking(False)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                if version == 6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
                self._loop.add_reader(sock.fileno(), self._readable, sock, version, sock is icmp)
            self._tcp[version], self._icmp[version] = tcp, icmp

    def close(self) -> None:
        for sock in (*self._tcp.values(), *self._icmp.values()):
            self._loop.remove_reader(sock.fileno())
            sock.close()
        self._tcp.clear()
        self._icmp.clear()
        self._wakeups.close()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
        for probe, _try, _seq in self._keys.values():
            probe.done.cancel()
        for probe in self._queue:
            probe.done.cancel()

    # ---- submitting ----------------------------------------------------------------------------------------

    def submit(self, host: str, address: str, port: int, service: Service | None) -> asyncio.Future[PortResult]:
        done: asyncio.Future[PortResult] = self._loop.create_future()
        try:
            packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
        except OSError:
            reason = f"not an IP address: {address!r}"
            done.set_result(PortResult(host, address, port, PortState.ERROR, reason, 0.0, service))
            return done
        self._queue.append(_Probe(host, address, packed, port, service, done))
        self._schedule_pump(0.0)
        return done

    def _schedule_pump(self, delay: float) -> None:
        if self._pump_handle is None:
            self._pump_handle = self._loop.call_later(delay, self._pump)

    def _pump(self) -> None:
        """Send what the token bucket allows; come back when the next token is due."""
        self._pump_handle = None
        now = self._loop.time()
        self._tokens = min(max(1.0, self.rate * BURST_SECONDS), self._tokens + (now - self._last) * self.rate)
        self._last = now
        while self._queue and self._tokens >= 1:
            probe = self._queue[0]
            if not probe.sent and self._outstanding >= self.max_outstanding:
                return  # a finishing probe pumps again
            self._queue.popleft()
            if probe.done.done():  # cancelled by its caller
                continue
            if not self._send(probe, now):
                self._queue.appendleft(probe)  # the socket buffer is full: wait a little
                self._schedule_pump(0.002)
                return
            self._tokens -= 1
        if self._queue:
            self._schedule_pump((1 - self._tokens) / self.rate)

    def _send(self, probe: _Probe, now: float) -> bool:
        """One SYN for `probe`; False when the kernel asks us to wait (the probe is put back)."""
        version = 6 if len(probe.packed) == 16 else 4
        try:
            guard.check(probe.address)
        except UnsafeTargetError as exc:
            refused = f"refused by safety guard: {exc}"
            blocked = PortResult(probe.host, probe.address, probe.port, PortState.BLOCKED, refused, 0.0, probe.service)
            return self._finish(probe, blocked)
        sock = self._tcp.get(version)
        source = self._source(probe.address, version)
        if sock is None or isinstance(source, str):
            reason = self._family_error.get(version, "") if sock is None else source
            return self._finish(probe, self._error(probe, str(reason)))
        sport, seq = self._free_port(probe), random.getrandbits(32)
        try:
            sock.sendto(syn_segment(source, probe.packed, sport, probe.port, seq), (probe.address, 0))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return False
            elapsed = now - probe.sent[0] if probe.sent else 0.0
            local = Attempt(Answer.LOCAL, 0.0, exc.errno or errno.EIO)
            tries = len(probe.sent) + 1
            result = result_from(probe.host, probe.address, probe.port, local, elapsed, tries, probe.service)
            return self._finish(probe, result)
        if not probe.sent:
            self._outstanding += 1
        probe.sent.append(now)
        key = (probe.packed, probe.port, sport)
        probe.keys.append(key)
        self._keys[key] = (probe, len(probe.sent), seq)
        self._arm(probe, now)
        return True

    def _free_port(self, probe: _Probe) -> int:
        while True:
            sport = next(self._ports)
            if (probe.packed, probe.port, sport) not in self._keys:
                return sport

    def _source(self, address: str, version: int) -> bytes | str:
        """Our address towards `address` (for the checksum), found by the kernel's route: no packet is sent."""
        path = path_of(address) or address
        known = self._sources.get(path)
        if known is None:
            family = socket.AF_INET6 if version == 6 else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                try:
                    udp.connect((address, 9))
                    known = socket.inet_pton(family, udp.getsockname()[0])
                except OSError as exc:
                    known = f"no route to {address}: {exc.strerror or exc}"
            self._sources[path] = known
        return known

    def _error(self, probe: _Probe, reason: str) -> PortResult:
        return PortResult(probe.host, probe.address, probe.port, PortState.ERROR, reason, 0.0, probe.service)

    # ---- timeouts ------------------------------------------------------------------------------------------

    def _arm(self, probe: _Probe, now: float) -> None:
        """Look at `probe` again when its try may be given up (sooner while no round trip is known)."""
        due = probe.sent[-1] + self.timing.timeout(probe.address, len(probe.sent) - 1)
        if not self.timing.settled(probe.address):
            due = min(due, now + TICK)
        self._wakeups.at(due, probe, len(probe.sent))

    def _due(self, probe: _Probe, tries: int, now: float) -> None:
        if probe.done.done() or len(probe.sent) != tries:
            return  # answered, cancelled, or already sent again
        if probe.sent[-1] + self.timing.timeout(probe.address, tries - 1) > now:
            self._arm(probe, now)  # the estimate grew, or it was only a look while unsettled
        elif tries < self.timing.tries(probe.address):
            self._queue.appendleft(probe)  # the retry goes first: its caller has waited longest
            self._schedule_pump(0.0)
        else:
            result = PortResult(
                probe.host, probe.address, probe.port, PortState.FILTERED, "no-response",
                round((now - probe.sent[0]) * 1000, 1), probe.service, attempts=tries,
            )  # fmt: skip
            self._finish(probe, result)

    def _finish(self, probe: _Probe, result: PortResult) -> bool:
        """Settle a probe and forget its keys; True (the send loop goes on)."""
        for key in probe.keys:
            self._keys.pop(key, None)
        if probe.sent:
            self._outstanding -= 1
            if self._queue:
                self._schedule_pump(0.0)
        if not probe.done.done():
            probe.done.set_result(result)
        return True

    # ---- answers -------------------------------------------------------------------------------------------

    def _readable(self, sock: socket.socket, version: int, icmp: bool) -> None:
        now = self._loop.time()
        for _ in range(512):  # bounded, so a flood cannot starve the loop
            try:
                if version == 4:
                    answer = parse_ipv4(sock.recv(65535))
                else:
                    data, ancillary, _flags, peer = sock.recvmsg(65535, 64)
                    answer = (parse_icmpv6 if icmp else parse_ipv6_tcp)(data, str(peer[0]), _hop_limit(ancillary))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if answer is not None:
                self._match(answer, now)

    def _match(self, answer: Reply, now: float) -> None:
        found = self._keys.get((answer.probed, answer.probed_port, answer.our_port))
        if found is None:
            return
        probe, tries, seq = found
        if answer.check not in (-1, seq) or probe.done.done():
            return
        rtt = now - probe.sent[tries - 1]
        if answer.kind is Kind.TCP:
            self.timing.observe(probe.address, rtt, tries)
        elapsed = now - probe.sent[0]
        self._finish(probe, result_for(probe.host, probe.address, probe.port, answer, elapsed, tries, probe.service))
