"""One scheduler for every (address, port) of a run, across targets.

A Scheduler is made once per run (`async with Scheduler(cfg) as s:`) and shared by every target:
    s.scan(pairs, ports)   one target's port probes; PortResults as they come (connect, or raw with cfg.raw)
    s.handshake(target)    one session; its TCP connect times out like a probe, not after --timeout
    s.dns_stage()          held by a target while its DNS runs (its queries need descriptors too)
    s.timing               the run's RttEstimator (per address, per path, whole run), fed by every answer

Every probe and session holds, for exactly as long as it runs: its destination's slot (the pluggable
`DestinationLimits`), a probe or session slot (Limits.probes_in_flight / global_concurrency), and its
descriptors from one first-come-first-served pool sized below RLIMIT_NOFILE. Nothing holds a slot while
waiting for another kind, so a filtered port costs one descriptor for a few round trips and nothing else,
and no target waits for another target's slow port. Raw mode replaces the per-probe connects by one
SynScanner (net/synscan.py): one socket per family, paced, answers matched.

`DestinationLimits` is the hook for a cluster: an object whose `probe(address)` and `session(address)`
return async context managers. The default keeps per-address counts in this process; a cluster-wide
implementation (e.g. a distributed semaphore per address) can be passed instead.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mailprobe.config import Config, Limits
from mailprobe.errors import UnsafeTargetError
from mailprobe.model import HandshakeResult, PortResult, ProbeStatus, Service, Target
from mailprobe.net.connect import error_result, probe_adaptive, session_socket
from mailprobe.net.limits import HostLimiter, LaunchGate, Slots, current_fd_budget, raise_fd_limit
from mailprobe.net.timing import RttEstimator

if TYPE_CHECKING:
    import ssl

    from mailprobe.net.synscan import SynScanner
    from mailprobe.net.transport import Session

T = TypeVar("T")
DNS_FDS = 24  # descriptors a target's DNS stage may use at once (its queries go out in two or three waves)
SCAN_AHEAD = 256  # probes of one target started ahead of their turn (the rest wait in the target's feeder)
CONNECTS_PER_TURN = 32  # connects started per turn of the event loop (see LaunchGate)


class DestinationLimits(Protocol):
    """Per-destination caps: each call returns an async context manager held while that work runs."""

    def probe(self, address: str) -> AbstractAsyncContextManager[Any]: ...

    def session(self, address: str) -> AbstractAsyncContextManager[Any]: ...


class LocalDestinationLimits:
    """This process's per-address caps (Limits.probes_per_address, Limits.per_host)."""

    def __init__(self, limits: Limits) -> None:
        self._probes = HostLimiter(limits.probes_per_address)
        self._sessions = HostLimiter(limits.per_host)

    def probe(self, address: str) -> AbstractAsyncContextManager[Any]:
        return self._probes(address)

    def session(self, address: str) -> AbstractAsyncContextManager[Any]:
        return self._sessions(address)

    def tracked(self) -> int:
        return self._probes.tracked() + self._sessions.tracked()


def scan_order(targets: Sequence[tuple[str, str]], ports: Sequence[int]) -> list[tuple[str, str, int]]:
    """(host, address, port) target by target, all ports of one together, duplicates dropped."""
    return list(dict.fromkeys((host, address, port) for host, address in targets for port in ports))


class Scheduler:
    """The run's shared probing resources; see the module docstring."""

    def __init__(self, cfg: Config, destinations: DestinationLimits | None = None) -> None:
        self.cfg = cfg
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
        # A session's sockets: its own, a hint's (is the port TLS? plaintext?), and the TLS 1.0/1.1 probes.
        self.session_fds = 4 if cfg.check_legacy_tls else 2
        self._raw: SynScanner | None = None
        self._raw_reason: str | None = None
        self.raw = cfg.raw and self._raw_available()

    async def __aenter__(self) -> Scheduler:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    # ---- DNS -------------------------------------------------------------------------------------------------

    def dns_stage(self) -> AbstractAsyncContextManager[None]:
        return self.fds.hold(DNS_FDS)

    async def with_dns(self, work: Awaitable[T]) -> T:
        async with self.dns_stage():
            return await work

    # ---- handshakes ------------------------------------------------------------------------------------------

    async def handshake(self, target: Target) -> HandshakeResult:
        from mailprobe.probes.registry import handshake

        async with self.destinations.session(target.address), self._sessions.hold(), self.fds.hold(self.session_fds):
            try:
                return await handshake(target, self.cfg, self._open_session)
            except Exception as exc:  # the engine boundary: a bug in a probe is a result, not a crash
                return HandshakeResult(target, ProbeStatus.ERROR, f"internal error: {exc!r}", 0.0)

    async def _open_session(
        self,
        address: str,
        port: int,
        limits: Limits,
        *,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Session:
        from mailprobe.net.transport import Session

        async def connect() -> socket.socket:
            return await session_socket(address, port, self.timing, self.gate)

        return await Session.open(
            address, port, limits, tls_context=tls_context, server_hostname=server_hostname, connect=connect
        )

    # ---- port probes -----------------------------------------------------------------------------------------

    async def scan(self, pairs: Sequence[tuple[str, str]], ports: Sequence[int]) -> AsyncIterator[PortResult]:
        """Every port of every (host, address) of one target; each result as soon as it is known."""
        work = scan_order(pairs, ports)
        if not work:
            return
        results: asyncio.Queue[PortResult | None] = asyncio.Queue()
        if self.raw:
            feeders = [self._raw_address(address, items, results.put_nowait) for address, items in _by_address(work)]
        else:
            feeders = [self._connect_feeder(work, results.put_nowait)]
        tasks = [asyncio.ensure_future(_then_none(feeder, results.put_nowait)) for feeder in feeders]
        try:
            finished = 0
            while finished < len(tasks):
                item = await results.get()
                if item is None:
                    finished += 1
                else:
                    yield item
            for task in tasks:  # surface a feeder's bug instead of losing its results silently
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _connect_feeder(
        self, work: Iterable[tuple[str, str, int]], deliver: Callable[[PortResult], None]
    ) -> None:
        """One task per probe, at most SCAN_AHEAD of this target at once; each waits for its slots."""
        room = asyncio.Semaphore(SCAN_AHEAD)
        running: set[asyncio.Future[None]] = set()

        async def one(host: str, address: str, port: int) -> None:
            try:
                deliver(await self.probe(host, address, port))
            finally:
                room.release()

        try:
            for host, address, port in work:
                await room.acquire()
                task: asyncio.Future[None] = asyncio.ensure_future(one(host, address, port))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def probe(self, host: str, address: str, port: int) -> PortResult:
        """One connect probe, holding its destination slot, a probe slot and one descriptor while it runs."""
        service = self.service_for(port)
        async with self.destinations.probe(address), self._probes.hold(), self.fds.hold():
            try:
                return await probe_adaptive(host, address, port, self.timing, service, self.gate)
            except UnsafeTargetError as exc:
                return error_result(host, address, port, f"refused by safety guard: {exc}", service)
            except Exception as exc:  # the engine boundary: a bug in a probe is a result, not a lost port
                return error_result(host, address, port, f"internal error: {exc!r}", service)

    def service_for(self, port: int) -> Service | None:
        if port not in self._services:
            self._services[port] = self.cfg.service_for_port(port)
        return self._services[port]

    # ---- raw mode --------------------------------------------------------------------------------------------

    def _raw_available(self) -> bool:
        from mailprobe.net.raw import raw_unavailable_reason

        self._raw_reason = raw_unavailable_reason()
        return self._raw_reason is None

    async def _raw_address(
        self, address: str, items: list[tuple[str, str, int]], deliver: Callable[[PortResult], None]
    ) -> None:
        """All probes of one address to the scanner at once, under the address's probe slot."""
        if self._raw is None:
            from mailprobe.net.synscan import SynScanner

            self._raw = SynScanner(self.timing, self.cfg.limits.raw_rate, max(4096, self.cfg.limits.probes_in_flight))
        async with self.destinations.probe(address):
            futures = []
            for host, _address, port in items:
                future = self._raw.submit(host, address, port, self.service_for(port))
                future.add_done_callback(lambda done: None if done.cancelled() else deliver(done.result()))
                futures.append(future)
            await asyncio.gather(*futures)


async def _then_none(work: Awaitable[None], deliver: Callable[[None], None]) -> None:
    """Run a feeder, then say it is finished (also when it failed: the reader must not wait forever)."""
    try:
        await work
    finally:
        deliver(None)


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
