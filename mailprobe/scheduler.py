"""One scheduler for every (address, port) of a run, across targets.

A Scheduler is made once per run (`async with Scheduler(cfg) as s:`) and shared by every target:
    s.scan(pairs, ports)   one target's port probes; PortResults as they come (connect, or raw with cfg.raw)
    s.handshake(target)    one session; its TCP connect times out like a probe, not after --timeout
    s.with_dns(work)       a target's DNS stage, holding descriptors for its queries meanwhile
    s.timing               the run's RttEstimator (per address, per path, per family), fed by every answer

Port probes of every target go to one scanner for the run: net/connectscan.py (connects started a few per
loop turn, one descriptor each from the run's pool, no task per probe) or, with --raw as root,
net/synscan.py (one socket per family, paced SYNs, answers matched). A probe holds its descriptor for exactly
as long as it waits, a few learnt round trips for a silent port, and nothing else: no target waits for
another target's slow port. Sessions hold a slot in their path's window (net/window.py: AIMD, halved when
sessions time out on servers that had answered, so a busy server is not swamped), a session slot
(Limits.global_concurrency) and their descriptors from the same first-come-first-served pool, sized below
RLIMIT_NOFILE.

A busy server drops SYNs as a firewall does. A silent port whose address had answered earlier, and whose
port number had answered elsewhere on its path, gets a second round while sessions of the run are on that
path (what may keep its servers busy, before any sign of it shows): after the sessions running then, behind
those waiting. If that port number on the path answered only a retry or had a session stall within
BUSY_MEMORY seconds (that service there is busy: random loss on the way does not single out one port
number), a silence carries `busy_path` (model.BusyPath): the checks report it as such, not as filtered. So
does a session's connect timeout there. Without such a sign, a silence in both rounds is a filter's.

What DNS leads to is done once per run (shared_work.py): a port of an address that several targets' MX
hosts share is probed once (scan(..., shared=True)), and a session to an MX, SRV or implicit-MX target once
for every target that names it; each target still gets the results in its report. What the user listed is
probed as listed, twice if listed twice.

`DestinationLimits` is the hook for a cluster: an object whose `probe(address)` and `session(address)`
return async context managers. `probe` is held while one target's probes of that address run (its ports
together, at most SCAN_AHEAD at a time), `session` for each session. The default counts per address in
this process (Limits.probes_per_address, Limits.per_host); a cluster-wide implementation (e.g. a distributed
semaphore per address) can be passed instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mailprobe.config import Config, Limits
from mailprobe.model import BusyPath, HandshakeResult, PortResult, PortState, ProbeStatus, Service, Target
from mailprobe.net.connect import session_socket
from mailprobe.net.connectscan import WINDOW_FLOOR as CONNECT_WINDOW_FLOOR
from mailprobe.net.connectscan import WINDOW_START as CONNECT_WINDOW_START
from mailprobe.net.connectscan import ConnectScanner
from mailprobe.net.limits import HostLimiter, LaunchGate, Slots, current_fd_budget, raise_fd_limit
from mailprobe.net.timing import RttEstimator, path_of
from mailprobe.net.window import SessionWindows
from mailprobe.shared_work import SharedWork

if TYPE_CHECKING:
    import ssl

    from mailprobe.net.transport import Session
    from mailprobe.probes.identify import Identified
    from mailprobe.progress import Progress, Step

T = TypeVar("T")
DNS_FDS = 24  # descriptors a target's DNS stage may use at once (its queries go out in two or three waves)
SCAN_AHEAD = 256  # probes of one target started ahead of their turn (the rest wait in the target's feeder)
CONNECTS_PER_TURN = 32  # connects started per turn of the event loop (see LaunchGate)
# Sessions at once per path (/24, /48) before any outcome is known, and at least. Each address has its own
# limit (Limits.per_host); this one guards servers behind many addresses. 128 spread over the mail services
# keeps each daemon (a port of Postfix, Dovecot's pop3/imap logins) below the 100 processes their defaults
# allow (default_process_limit in both), even when every address of the /24 is one server; a stall halves
# it. At 64 a handshake run of one /24's 64 addresses waited for its window to open (held lab: 2.02 s against
# 1.93 s, 10 runs each); an audit of 100 addresses of one saturated server failed as many sessions either
# way, 3-7 % slower at 128 (bench/README).
WINDOW_START, WINDOW_FLOOR = 128, 4
_ANSWERED = (PortState.OPEN, PortState.CLOSED)  # a SYN-ACK or a RST: the port number answers on that path
_NOT_CONNECTED = (
    ProbeStatus.CONNECT_TIMEOUT, ProbeStatus.UNREACHABLE, ProbeStatus.BLOCKED, ProbeStatus.SKIPPED, ProbeStatus.ERROR
)
ANSWERED_PATHS = 4096  # paths whose answering ports are kept (memory stays flat over a scan of many networks)
BUSY_MEMORY = 5.0  # seconds a sign of a busy service (a retry answered, a stall) counts (the default --timeout)
SHARED_PORTS, SHARED_SESSIONS = 8192, 256  # finished answers kept to share (a PortResult is small, a session not)


class PortScanner(Protocol):
    """net/connectscan.py's ConnectScanner or net/synscan.py's SynScanner."""

    def submit(self, host: str, address: str, port: int, service: Service | None) -> asyncio.Future[PortResult]: ...

    def close(self) -> None: ...


class DestinationLimits(Protocol):
    """Per-destination caps: each call returns an async context manager held while that work runs."""

    def probe(self, address: str) -> AbstractAsyncContextManager[Any]: ...

    def session(self, address: str) -> AbstractAsyncContextManager[Any]: ...


class LocalDestinationLimits:
    """This process's per-address caps: Limits.probes_per_address target scans of an address at once,
    Limits.per_host sessions."""

    def __init__(self, limits: Limits) -> None:
        self._probes = HostLimiter(limits.probes_per_address)
        self._sessions = HostLimiter(limits.per_host)

    def probe(self, address: str) -> AbstractAsyncContextManager[Any]:
        return self._probes(address)

    def session(self, address: str) -> AbstractAsyncContextManager[Any]:
        return self._sessions(address)

    def tracked(self) -> int:
        return self._probes.tracked() + self._sessions.tracked()


def congested(result: HandshakeResult, seen_open: bool) -> bool:
    """Did the session end by waiting on a server that had answered (a sign it has more than it can take)?"""
    if result.status in (ProbeStatus.IO_TIMEOUT, ProbeStatus.SESSION_TIMEOUT, ProbeStatus.TLS_HANDSHAKE_TIMEOUT):
        return True
    if result.status is ProbeStatus.POST_TLS_ERROR:
        return result.post_tls_status is ProbeStatus.IO_TIMEOUT
    return result.status is ProbeStatus.CONNECT_TIMEOUT and seen_open


def scan_order(targets: Sequence[tuple[str, str]], ports: Sequence[int]) -> list[tuple[str, str, int]]:
    """(host, address, port) target by target, all ports of one together, duplicates dropped."""
    return list(dict.fromkeys((host, address, port) for host, address in targets for port in ports))


class Scheduler:
    """The run's shared probing resources; see the module docstring."""

    def __init__(
        self, cfg: Config, destinations: DestinationLimits | None = None, progress: Progress | None = None
    ) -> None:
        self.cfg = cfg
        self.progress = progress  # what is in flight, for a status line (None: nothing is recorded)
        limits = cfg.limits
        raise_fd_limit()
        self.fd_budget = current_fd_budget()
        self.fds = Slots(self.fd_budget)
        self.timing = RttEstimator(limits.connect_timeout)
        self.destinations: DestinationLimits = destinations or LocalDestinationLimits(limits)
        self._probes = Slots(limits.probes_in_flight)
        self.gate = LaunchGate(CONNECTS_PER_TURN)
        self._services = {port: cfg.service_for_port(port) for port in (*cfg.scan_ports, *(p for _, p in cfg.ports))}
        self._sessions = Slots(limits.global_concurrency)
        # A run spread over processes (--jobs) starts as gently as one: each opens its share of the windows.
        opening = limits.opening(WINDOW_START, WINDOW_FLOOR)
        self.windows = SessionWindows(opening, WINDOW_FLOOR, limits.global_concurrency)
        # A session's sockets: its own, a hint's (is the port TLS? plaintext?), and the TLS 1.0/1.1 probes.
        self.session_fds = 4 if cfg.check_legacy_tls else 2
        self._ports: PortScanner | None = None
        self.raw = cfg.raw and _raw_available()
        self._shared_ports: SharedWork[tuple[str, int], PortResult] = SharedWork(SHARED_PORTS)
        self._shared_sessions: SharedWork[Target, HandshakeResult] = SharedWork(SHARED_SESSIONS)
        # path -> ports that answered there (scan or session), the least recently heard paths forgotten first
        self._answered: OrderedDict[bytes | str, set[int]] = OrderedDict()
        # (path, port) -> the latest sign that the service there is busy, and when (as many kept as paths)
        self._busy_signs: OrderedDict[tuple[bytes | str, int], tuple[BusyPath, float]] = OrderedDict()

    async def __aenter__(self) -> Scheduler:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._shared_sessions.cancel_running()
        self._shared_ports.cancel_running()
        if self._ports is not None:
            self._ports.close()
            self._ports = None

    # ---- DNS -------------------------------------------------------------------------------------------------

    async def with_dns(self, work: Awaitable[T]) -> T:
        """A target's DNS stage, holding descriptors for its queries while it runs."""
        async with self.fds.hold(DNS_FDS):
            return await work

    # ---- handshakes ------------------------------------------------------------------------------------------

    async def handshake(self, target: Target, *, seen_open: bool = False) -> HandshakeResult:
        """One session. `seen_open`: the scan just saw the port open, so its connects wait out a busy server
        instead of calling it filtered. A target DNS led to (an MX, SRV) shares the session another target
        of the run started for it."""
        if target.origin == "user":
            return await self._one_handshake(target, seen_open)
        running = self._shared_sessions.get(target)
        if running is None:
            running = asyncio.ensure_future(self._one_handshake(target, seen_open))
            self._shared_sessions.put(target, running)
        return await asyncio.shield(running)  # one asker cancelled (its target ended) leaves it to the others

    async def _one_handshake(self, target: Target, seen_open: bool) -> HandshakeResult:
        step = None
        if self.progress is not None:
            step = self.progress.begin(
                target.host, f"{target.host} {target.port}", "waiting for a session slot", session=True
            )
        try:
            return await self._handshake(target, seen_open, step)
        finally:
            if step is not None and self.progress is not None:
                self.progress.end(step)

    @asynccontextmanager
    async def _session_slot(self, address: str) -> AsyncIterator[None]:
        """What a session holds while it runs: its address's and its path's slots, a run-wide one, descriptors."""
        async with (
            self.destinations.session(address),
            self.windows.slot(address),
            self._sessions.hold(),
            self.fds.hold(self.session_fds),
        ):
            yield

    async def identify(
        self, host: str, address: str, port: int, server_hostname: str | None, *, seen_open: bool = False
    ) -> Identified:
        """Which service a port with no registered number offers, from its greeting (probes/identify.py)."""
        from mailprobe.probes.identify import identify

        step = None
        if self.progress is not None:
            step = self.progress.begin(
                host, f"{host} {port} (which service?)", "waiting for a session slot", session=True
            )
        try:
            async with self._session_slot(address):
                return await identify(address, port, self.cfg.limits, _Opener(self, seen_open, step), server_hostname)
        finally:
            if step is not None and self.progress is not None:
                self.progress.end(step)

    async def _handshake(self, target: Target, seen_open: bool, step: Step | None) -> HandshakeResult:
        result, crowded = await self._session(target, seen_open, step)
        if crowded and congested(result, seen_open):
            # It timed out on a server that had answered, while other sessions of this run went to the same
            # network: that may be our own load, not the server's fault. Once more, behind the sessions
            # waiting now (the path's window was cut meanwhile); its result is the verdict, both counted.
            again, _ = await self._session(target, seen_open, step)
            result = replace(again, sessions=result.sessions + 1)
        if result.status is ProbeStatus.CONNECT_TIMEOUT:
            busy = self.busy_path(target.address, target.port)
            if busy is not None:  # silence then is no firewall's verdict (see BusyPath)
                result = replace(result, busy_path=busy)
        return result

    async def _session(self, target: Target, seen_open: bool, step: Step | None) -> tuple[HandshakeResult, bool]:
        """One session and whether it shared its path with other sessions of the run (at its start or end)."""
        from mailprobe.probes.registry import handshake

        opener = _Opener(self, seen_open, step)
        address = target.address
        async with self.destinations.session(address), self.windows.slot(address):
            crowded = self.windows.in_use(address) > 1
            async with self._sessions.hold(), self.fds.hold(self.session_fds):
                stall = self.windows.stall_after(address, target.port)
                loop = asyncio.get_running_loop()
                # A session still running well past the quickest to its port is a stall now, not when it ends.
                watch = loop.call_later(stall, self.stalled, address, target.port) if stall is not None else None
                try:
                    result = await handshake(target, self.cfg, opener)
                except Exception as exc:  # the engine boundary: a bug in a probe is a result, not a crash
                    result = HandshakeResult(target, ProbeStatus.ERROR, f"internal error: {exc!r}", 0.0)
                finally:
                    if watch is not None:
                        watch.cancel()
            crowded = crowded or self.windows.in_use(address) > 1
            if result.status not in _NOT_CONNECTED:
                self._heard(address, target.port)
            if result.status is ProbeStatus.SUCCESS:
                self.windows.ended(address, False, target.port, result.elapsed_ms / 1000)
            else:
                stalled = congested(result, seen_open)
                self.windows.ended(address, stalled)
                if stalled:
                    self._busy_sign(address, target.port, BusyPath.STALLED_SESSIONS)
        return result, crowded

    # ---- port probes -----------------------------------------------------------------------------------------

    def _scanner(self) -> PortScanner:
        if self._ports is None:
            limits = self.cfg.limits
            if self.raw:
                from mailprobe.net.synscan import SynScanner

                self._ports = SynScanner(self.timing, limits.raw_rate, max(4096, limits.probes_in_flight))
            else:
                start = limits.opening(CONNECT_WINDOW_START, CONNECT_WINDOW_FLOOR)
                self._ports = ConnectScanner(self.timing, self.fds, CONNECTS_PER_TURN, limits.probes_in_flight, start)
        return self._ports

    async def scan(
        self, pairs: Sequence[tuple[str, str]], ports: Sequence[int], *, shared: bool = False
    ) -> AsyncIterator[PortResult]:
        """Every port of every (host, address) of one target; each result as soon as it is known. `shared`:
        the pairs came from DNS, so a port another target's probe of the same address answers is not probed
        again (the result is relabelled with this target's host name)."""
        work = scan_order(pairs, ports)
        if not work:
            return
        results: asyncio.Queue[PortResult | None] = asyncio.Queue()
        batches = [
            self._scan_address(address, items, results.put_nowait, shared) for address, items in _by_address(work)
        ]
        tasks = [asyncio.ensure_future(batch) for batch in batches]
        try:
            finished = 0
            while finished < len(tasks):
                item = await results.get()
                if item is None:
                    finished += 1
                else:
                    yield item
            for task in tasks:  # surface a batch's bug instead of losing its results silently
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _scan_address(
        self,
        address: str,
        items: list[tuple[str, str, int]],
        deliver: Callable[[PortResult | None], None],
        shared: bool,
    ) -> None:
        """One address's probes of one target, under the address's destination slot, at most SCAN_AHEAD
        submitted at once (a long --ports list neither floods the address nor fills memory). Ends by
        delivering None, also when it failed: the reader must not wait forever."""
        try:
            await self._scan_address_batch(address, items, deliver, shared)
        finally:
            deliver(None)

    async def _scan_address_batch(
        self, address: str, items: list[tuple[str, str, int]], deliver: Callable[[PortResult], None], shared: bool
    ) -> None:
        pending = iter(items)
        # Each probe's future -> the hosts it answers for (two names of this target may share an address).
        outstanding: dict[asyncio.Future[PortResult], list[str]] = {}
        all_done = asyncio.get_running_loop().create_future()
        left = len(items)
        ended = False

        def submit(host: str, port: int) -> None:
            future = self._probe(host, address, port, shared)
            hosts = outstanding.setdefault(future, [])
            hosts.append(host)
            if len(hosts) == 1:
                future.add_done_callback(finished)

        def finished(future: asyncio.Future[PortResult]) -> None:
            nonlocal left
            hosts = outstanding.pop(future, [])
            if ended or future.cancelled():
                return
            result = future.result()
            if result.state in _ANSWERED:
                self._heard(address, result.port)
                if result.attempts > 1 and result.rounds == 1:  # answered only a retry: its earlier SYNs were lost
                    self._busy_sign(address, result.port, BusyPath.LOST_SYNS)
            if result.state is PortState.FILTERED and result.rounds == 1 and self._answered_there(address, result.port):
                # Silent where the address and that port number on its path had answered: a busy server drops
                # SYNs as a firewall does. With sessions of the run on the path (what may keep the server busy,
                # before any sign of it shows), a second round after them; a bare scan has had its extra tries
                # (net/timing.py) and says what it saw.
                busy = self.busy_path(address, result.port)
                if self.windows.in_use(address):
                    again = self._look_again(future, result, busy, shared)
                    outstanding[again] = hosts
                    again.add_done_callback(finished)
                    return
                if busy is not None:
                    result = replace(result, busy_path=busy)
            for host in hosts:
                deliver(result if result.host == host else replace(result, host=host))
                left -= 1
                following = next(pending, None)
                if following is not None:
                    submit(following[0], following[2])
            if left == 0 and not all_done.done():
                all_done.set_result(None)

        async with self.destinations.probe(address):
            for host, _address, port in itertools.islice(pending, SCAN_AHEAD):
                submit(host, port)
            try:
                await all_done
            finally:
                ended = True
                if not shared:  # a shared probe may have other askers: it runs on, unheard here
                    for future in list(outstanding):
                        future.cancel()

    def _heard(self, address: str, port: int) -> None:
        key = path_of(address) or address
        ports = self._answered.get(key)
        if ports is None:
            ports = self._answered[key] = set()
            if len(self._answered) > ANSWERED_PATHS:
                self._answered.popitem(last=False)  # a forgotten path's silence is judged a firewall's again
        else:
            self._answered.move_to_end(key)
        ports.add(port)

    def stalled(self, address: str, port: int) -> None:
        """A session to `port` of `address` is still running past its path's stall time (net/window.py)."""
        self.windows.stalled(address)
        self._busy_sign(address, port, BusyPath.STALLED_SESSIONS)

    def _busy_sign(self, address: str, port: int, sign: BusyPath) -> None:
        key = (path_of(address) or address, port)
        self._busy_signs[key] = (sign, asyncio.get_running_loop().time())
        self._busy_signs.move_to_end(key)
        if len(self._busy_signs) > ANSWERED_PATHS:
            self._busy_signs.popitem(last=False)

    def _answered_there(self, address: str, port: int) -> bool:
        """The address had answered (any port), and so had that port number on its path (earlier in the run)."""
        if not self.timing.heard_from(address):
            return False  # an address that answered nothing: down or filtered as a whole, busy network or not
        return port in self._answered.get(path_of(address) or address, ())  # silent across the path: a filter

    def busy_path(self, address: str, port: int) -> BusyPath | None:
        """Positive evidence, now, that a silent `port` of `address` may be a busy server's (see BusyPath): the
        address and that port number on its path had answered (`_answered_there`), and that port number there
        showed a sign of a busy service in the last BUSY_MEMORY seconds. Else silence is a firewall's."""
        if not self._answered_there(address, port):
            return None
        sign = self._busy_signs.get((path_of(address) or address, port))
        if sign is None or asyncio.get_running_loop().time() - sign[1] > BUSY_MEMORY:
            return None
        return sign[0]

    def _look_again(
        self, first: asyncio.Future[PortResult], result: PortResult, busy: BusyPath | None, shared: bool
    ) -> asyncio.Future[PortResult]:
        """A second round for a port silent while the run's sessions were on its path, once per port: for a shared
        probe, the other askers find this round in place of the first."""
        key = (result.address, result.port)
        if shared:
            running = self._shared_ports.get(key)
            if running is not None and running is not first:
                return running
        again = asyncio.ensure_future(self._second_round(result, busy))
        if shared:
            self._shared_ports.put(key, again)
        return again

    async def _second_round(self, first: PortResult, busy: BusyPath | None) -> PortResult:
        """Probed again once the sessions running on its path now have ended (at most BUSY_MEMORY seconds: they
        are what may keep the server busy), in a slot of the path's window behind those waiting. Both rounds'
        tries and probing time are counted; `busy_path` is the sign of a busy service seen by the first
        round's end, or else by the second's (None: none was seen, and a silence is a filter's)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.windows.current_ended(first.address), BUSY_MEMORY)
        async with self.windows.slot(first.address):
            again = await self._scanner().submit(first.host, first.address, first.port, first.service)
        return replace(
            again,
            attempts=first.attempts + again.attempts,
            elapsed_ms=round(first.elapsed_ms + again.elapsed_ms, 1),
            busy_path=busy or self.busy_path(first.address, first.port),
            rounds=2,
        )

    def _probe(self, host: str, address: str, port: int, shared: bool) -> asyncio.Future[PortResult]:
        scanner = self._scanner()
        if not shared:
            return scanner.submit(host, address, port, self.service_for(port))
        future = self._shared_ports.get((address, port))
        if future is None:
            future = scanner.submit(host, address, port, self.service_for(port))
            self._shared_ports.put((address, port), future)
        return future

    def service_for(self, port: int) -> Service | None:
        if port not in self._services:
            self._services[port] = self.cfg.service_for_port(port)
        return self._services[port]


class _Opener:
    """How a session of this run connects: like a probe (net/connect.py session_socket), paced by the gate."""

    def __init__(self, scheduler: Scheduler, patient: bool, step: Step | None = None) -> None:
        self.scheduler, self.patient = scheduler, patient
        self.step = step  # given to the first session only: the dialogue itself, not its side sessions

    async def __call__(
        self,
        address: str,
        port: int,
        limits: Limits,
        *,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Session:
        from mailprobe.net.transport import Session

        scheduler = self.scheduler

        async def connect() -> socket.socket:
            return await session_socket(address, port, scheduler.timing, scheduler.gate, patient=self.patient)

        step, self.step = self.step, None
        return await Session.open(
            address, port, limits, tls_context=tls_context, server_hostname=server_hostname, connect=connect, step=step
        )


def _raw_available() -> bool:
    from mailprobe.net.raw import raw_unavailable_reason

    return raw_unavailable_reason() is None


def _by_address(work: list[tuple[str, str, int]]) -> list[tuple[str, list[tuple[str, str, int]]]]:
    grouped: dict[str, list[tuple[str, str, int]]] = {}
    for item in work:
        grouped.setdefault(item[1], []).append(item)
    return list(grouped.items())


async def scan_with(cfg: Config, pairs: Sequence[tuple[str, str]], ports: Sequence[int]) -> AsyncIterator[PortResult]:
    """A scan on a scheduler of its own (for callers outside a run: egress, tests, the library)."""
    async with Scheduler(cfg) as scheduler:
        async for result in scheduler.scan(pairs, ports):
            yield result
