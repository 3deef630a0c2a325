"""The connect probe: is a TCP port open, closed, filtered or unreachable, and who said so.

An ordinary non-blocking socket (no privileges) with IP_RECVERR / IPV6_RECVERR: when the connect fails, the
error queue tells an ICMP error from a router (type, code, sender) apart from a RST sent by the server.
States and reasons follow nmap's connect scan: open "syn-ack", closed "conn-refused", filtered "no-response"
(after one retry), unreachable "<icmp words> from <sender>". `connect_adaptive` is the same connect for a
session: it hands the connected socket over, so sessions time out silent ports as the scan does.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from mailprobe.errors import TransportError
from mailprobe.model import IcmpInfo, PortResult, PortState, ProbeStatus, Service
from mailprobe.net import guard
from mailprobe.net.icmp import enable_recverr, read_error_queue
from mailprobe.net.limits import LaunchGate, RttEstimator
from mailprobe.net.timing import TRIES

TICK = 0.1  # how often a waiting probe looks again at the (adapting) timeout
EMFILE_WAIT = 0.05
EMFILE_TRIES = 100  # 5 s of waiting for a descriptor before giving up on that port
# A session's connect: one retry of silence, whatever the path lost. More tries (the scan's rule) made the
# firewalled ports of a handshake run whose own sessions filled a server's accept queue wait ~0.15 s longer
# (bench/README), and told nothing: silence on a path seen busy is reported as such (scheduler.busy_path).
SESSION_RETRIES = TRIES - 1
_TCP_INFO: int | None = getattr(socket, "TCP_INFO", None)  # Linux; elsewhere the loop's own timing

_LOCAL_UNREACH = {
    errno.ENETUNREACH: "net-unreach",
    errno.EHOSTUNREACH: "host-unreach",
    errno.ENETDOWN: "net-down",
    errno.EHOSTDOWN: "host-down",
    errno.EADDRNOTAVAIL: "no-source-address",
}


class Answer(str, Enum):
    SYN_ACK = "syn-ack"
    REFUSED = "conn-refused"
    ICMP = "icmp"
    LOCAL = "local-error"
    SILENT = "no-response"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one connect attempt saw."""

    answer: Answer
    rtt: float  # seconds from connect() to the answer (or to giving up)
    errno: int = 0
    icmp: IcmpInfo | None = None


def sockaddr_for(address: str, port: int) -> tuple[int, tuple[str, int] | tuple[str, int, int, int]]:
    """Family and sockaddr of a numeric address (IPv6 scope ids allowed); ValueError otherwise. No DNS."""
    if "%" not in address:  # the common case without getaddrinfo, which costs more than the connect itself
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                socket.inet_pton(family, address)
            except OSError:
                continue
            return (family, (address, port)) if family == socket.AF_INET else (family, (address, port, 0, 0))
    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror as exc:
        raise ValueError(f"not an IP address: {address!r}") from exc
    family, _type, _proto, _canon, sockaddr = infos[0]
    return family, sockaddr  # type: ignore[return-value]


async def _new_socket(family: int) -> socket.socket:
    """A non-blocking TCP socket; waits (bounded) when the process is out of descriptors."""
    for _ in range(EMFILE_TRIES):
        try:
            return socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                raise
            await asyncio.sleep(EMFILE_WAIT)
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


def _wake(ready: asyncio.Future[bool], value: bool) -> None:
    if not ready.done():
        ready.set_result(value)


async def _wait_writable(sock: socket.socket, deadline: Callable[[], float], settled: Callable[[], bool]) -> bool:
    """True when the socket turns writable (connected or failed) before `deadline()` (loop time) passes.

    The deadline follows the round trips learnt meanwhile. Until one is known it is looked at again every
    TICK (it drops from the initial second at the first answer anywhere); after that only when it is
    reached, so thousands of waiting probes cost a wake-up or two each, not one per tick.
    """
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    while True:
        left = deadline() - loop.time()
        if left <= 0:
            return False
        ready: asyncio.Future[bool] = loop.create_future()
        loop.add_writer(fd, _wake, ready, True)
        timer = loop.call_later(left if settled() else min(left, TICK), _wake, ready, False)
        try:
            if await ready:
                return True
        finally:
            timer.cancel()
            loop.remove_writer(fd)


def _classify_failure(code: int, sock: socket.socket, rtt: float) -> Attempt:
    queued = read_error_queue(sock)
    icmp = queued.icmp_info() if queued is not None else None
    if icmp is not None:
        return Attempt(Answer.ICMP, rtt, code, icmp)
    if code == errno.ECONNREFUSED:
        return Attempt(Answer.REFUSED, rtt, code)
    if code == errno.ETIMEDOUT:
        return Attempt(Answer.SILENT, rtt, code)
    return Attempt(Answer.LOCAL, rtt, code)


# struct tcp_info (linux/tcp.h): eight one-byte fields, then u32s; tcpi_rtt (microseconds) is the 16th.
_TCP_INFO_RTT = struct.Struct("=I")
_TCP_INFO_RTT_OFFSET = 8 + 15 * 4
_TCP_INFO_SIZE = _TCP_INFO_RTT_OFFSET + _TCP_INFO_RTT.size


def rtt_from_tcp_info(info: bytes) -> float | None:
    """The kernel's smoothed round trip in seconds from a TCP_INFO answer; None when it holds none (no sample
    yet, or a short answer from another kernel)."""
    if len(info) < _TCP_INFO_SIZE:
        return None
    micros: int = _TCP_INFO_RTT.unpack_from(info, _TCP_INFO_RTT_OFFSET)[0]
    return micros / 1e6 if micros else None


def handshake_rtt(sock: socket.socket, waited: float) -> float:
    """The round trip of a connect that was just answered with a SYN-ACK: the kernel's own sample (taken when
    the SYN-ACK arrived), else `waited`, the event loop's time from connect() to noticing the answer. The loop
    notices late while it is busy (starting a thousand connects, say: 3-7 ms median, up to 36 ms measured in
    the lab), and every timeout learnt from such samples would be as much too long."""
    if _TCP_INFO is None:
        return waited
    try:
        rtt = rtt_from_tcp_info(sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _TCP_INFO_SIZE))
    except OSError:
        return waited
    return waited if rtt is None else min(rtt, waited)


def _start_connect(sock: socket.socket, sockaddr: tuple[str, int] | tuple[str, int, int, int]) -> int:
    """connect() on a non-blocking socket, as an errno (plain connect, so test-time socket guards see it)."""
    try:
        sock.connect(sockaddr)
    except BlockingIOError:
        return errno.EINPROGRESS
    except OSError as exc:
        return exc.errno or errno.EIO
    return 0


async def connect_once(
    family: int,
    sockaddr: tuple[str, int] | tuple[str, int, int, int],
    timeout: Callable[[], float],
    settled: Callable[[], bool] = lambda: True,
    *,
    keep: bool = False,
) -> tuple[Attempt, socket.socket | None]:
    """One connect attempt, given up `timeout()` seconds after it started (asked again as it adapts).

    With `keep` a connected socket is handed over (for a session); otherwise it is closed with a RST.
    """
    sock = await _new_socket(family)
    handed_over = False
    try:
        enable_recverr(sock)
        loop = asyncio.get_running_loop()
        started = loop.time()
        code = _start_connect(sock, sockaddr)
        if code not in (0, errno.EINPROGRESS):
            return _classify_failure(code, sock, loop.time() - started), None
        if code == errno.EINPROGRESS and not await _wait_writable(sock, lambda: started + timeout(), settled):
            # A soft ICMP error may have been queued without aborting the connect: it still counts.
            queued = read_error_queue(sock)
            icmp = queued.icmp_info() if queued is not None else None
            rtt = loop.time() - started
            return (Attempt(Answer.ICMP, rtt, 0, icmp) if icmp else Attempt(Answer.SILENT, rtt)), None
        waited = loop.time() - started
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code != 0:
            return _classify_failure(code, sock, waited), None
        rtt = handshake_rtt(sock, waited)
        if keep:
            enable_recverr(sock, on=False)
            handed_over = True
            return Attempt(Answer.SYN_ACK, rtt), sock
        # Reset rather than FIN: no TIME_WAIT left behind, nothing more asked of the server.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return Attempt(Answer.SYN_ACK, rtt), None
    finally:
        if not handed_over:
            sock.close()


def result_from(
    host: str, address: str, port: int, attempt: Attempt, elapsed: float, tries: int, service: Service | None
) -> PortResult:
    """The PortResult an attempt amounts to (pure)."""
    ms = round(elapsed * 1000, 1)

    def make(state: PortState, reason: str, icmp: IcmpInfo | None = None) -> PortResult:
        return PortResult(host, address, port, state, reason, ms, service, icmp, attempts=tries)

    if attempt.answer is Answer.SYN_ACK:
        return make(PortState.OPEN, "syn-ack")
    if attempt.answer is Answer.REFUSED:
        return make(PortState.CLOSED, "conn-refused")
    if attempt.answer is Answer.ICMP and attempt.icmp is not None:
        return make(PortState.UNREACHABLE, f"{attempt.icmp.description} from {attempt.icmp.sender}", attempt.icmp)
    if attempt.answer is Answer.SILENT:
        return make(PortState.FILTERED, "no-response")
    if attempt.errno in _LOCAL_UNREACH:
        return make(PortState.UNREACHABLE, f"{_LOCAL_UNREACH[attempt.errno]} (local)")
    name = errno.errorcode.get(attempt.errno, str(attempt.errno))
    return make(PortState.ERROR, f"local error {name}: {os.strerror(attempt.errno)}")


def error_result(host: str, address: str, port: int, reason: str, service: Service | None) -> PortResult:
    return PortResult(host, address, port, PortState.ERROR, reason, 0.0, service)


async def connect_adaptive(
    address: str,
    port: int,
    timing: RttEstimator,
    *,
    keep: bool = False,
    gate: LaunchGate | None = None,
    retries: int | None = None,
) -> tuple[Attempt, int, float, socket.socket | None]:
    """Connect, trying again after silence as the scan does (`retries`, else net/timing.py's tries rule for the
    path); each try times out after a few round trips learnt on its path.

    Returns the last attempt, the number of tries, the seconds spent and (with `keep`) the connected socket.
    The guard is asked first (UnsafeTargetError); a non-address is a ValueError. Answers teach `timing`.
    Each try waits for its turn at `gate` (the run's pacing of connects), if given.
    """
    family, sockaddr = sockaddr_for(address, port)
    guard.check(address)
    loop = asyncio.get_running_loop()
    first = loop.time()
    attempt, sock = Attempt(Answer.SILENT, 0.0), None
    tries = 0
    for tries in range(1, (timing.tries(address) - 1 if retries is None else retries) + 2):
        backoff = tries - 1
        if gate is not None:
            await gate.wait()
        try:
            attempt, sock = await connect_once(
                family,
                sockaddr,
                functools.partial(timing.timeout, address, backoff),
                functools.partial(timing.settled, address),
                keep=keep,
            )
        except OSError as exc:  # could not even make a socket (descriptors exhausted, ...)
            attempt = Attempt(Answer.LOCAL, 0.0, exc.errno or 0)
        if attempt.answer in (Answer.SYN_ACK, Answer.REFUSED):
            timing.observe(address, attempt.rtt, tries)
        if attempt.answer is not Answer.SILENT:
            break
    return attempt, tries, loop.time() - first, sock


async def probe_adaptive(
    host: str,
    address: str,
    port: int,
    timing: RttEstimator,
    service: Service | None = None,
    gate: LaunchGate | None = None,
) -> PortResult:
    """Probe one port: open, closed, filtered (silent twice) or unreachable. The guard is asked first."""
    try:
        attempt, tries, elapsed, _ = await connect_adaptive(address, port, timing, gate=gate)
    except ValueError as exc:
        return error_result(host, address, port, str(exc), service)
    return result_from(host, address, port, attempt, elapsed, tries, service)


async def probe_port(address: str, port: int, timeout: float, *, host: str = "") -> PortResult:
    """Probe one TCP port with a fixed timeout per attempt and one retry of silence.

    Raises UnsafeTargetError (before sending anything) when the guard refuses the address.
    """
    fixed = RttEstimator(timeout, initial=timeout)
    return await probe_adaptive(host or address, address, port, fixed, Service.for_port(port))


_SESSION_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM, errno.EADDRNOTAVAIL}


async def session_socket(
    address: str, port: int, timing: RttEstimator, gate: LaunchGate | None = None, *, patient: bool = False
) -> socket.socket:
    """A connected socket for a session, or TransportError with the ProbeStatus the connect amounts to.

    Silence is given up after a few learnt round trips, as in the scan (SESSION_RETRIES retries), not after the
    whole connect timeout, which stays the ceiling. `patient`: the port was just seen open, so silence now is a
    busy server (a full accept queue drops SYNs), not a filter: one try, as long as the ceiling allows (the
    kernel resends the SYN meanwhile).
    """
    if patient:
        timing = RttEstimator(timing.ceiling, floor=timing.ceiling, initial=timing.ceiling)
    try:
        attempt, tries, _elapsed, sock = await connect_adaptive(
            address, port, timing, keep=True, gate=gate, retries=0 if patient else SESSION_RETRIES
        )
    except ValueError as exc:
        raise TransportError(ProbeStatus.ERROR.value, str(exc)) from None
    if sock is not None:
        return sock
    if attempt.answer is Answer.REFUSED:
        raise TransportError(ProbeStatus.REFUSED.value, "connection refused (RST)")
    if attempt.answer is Answer.SILENT:
        # No time in the words (the result has its elapsed_ms): the same silence on 60 hosts is one finding.
        waited = f"{tries} {'try' if tries == 1 else 'tries'}"
        raise TransportError(ProbeStatus.CONNECT_TIMEOUT.value, f"no answer to the TCP handshake ({waited})")
    if attempt.icmp is not None:
        reason = f"connect failed: {attempt.icmp.description} from {attempt.icmp.sender}"
        raise TransportError(ProbeStatus.UNREACHABLE.value, reason)
    status = ProbeStatus.UNREACHABLE if attempt.errno in _SESSION_UNREACHABLE else ProbeStatus.ERROR
    raise TransportError(status.value, f"connect failed: {os.strerror(attempt.errno)}")
