"""One target's probes in flight (engine.audit_target): its port results, and a session per service started
as its port is seen open; a port with no registered service is identified first (probes/identify.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mailprobe.config import Config
from mailprobe.errors import UnsafeTargetError
from mailprobe.model import (
    Direction,
    ErrorKind,
    HandshakeResult,
    PortResult,
    PortState,
    RunError,
    Target,
    TranscriptEntry,
)
from mailprobe.scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class Unidentified:
    """A port with no registered service (`HOST:2525`): its greeting tells which it offers."""

    host: str
    address: str
    port: int
    origin: str = "user"


SessionTarget = Target | Unidentified  # what a session is started for
SessionOutcome = HandshakeResult | RunError


class Probing:
    """One target's probes in flight: port results, and a session per service started as its port opens."""

    def __init__(self, scheduler: Scheduler, cfg: Config) -> None:
        self.scheduler, self.cfg = scheduler, cfg
        self.ports: list[PortResult] = []
        self.sessions: dict[SessionTarget, asyncio.Future[SessionOutcome]] = {}

    def start(self, targets: Iterable[SessionTarget], *, seen_open: bool = False) -> None:
        for target in targets:
            if target not in self.sessions:
                work = (
                    self.scheduler.handshake(target, seen_open=seen_open)
                    if isinstance(target, Target)
                    else self._identified(target, seen_open)
                )
                self.sessions[target] = asyncio.ensure_future(work)

    async def _identified(self, port: Unidentified, seen_open: bool) -> SessionOutcome:
        """The port's service from its greeting, then its handshake; a RunError when it cannot be told."""
        place = f"{port.address}:{port.port}" if port.host == port.address else f"{port.host}:{port.port}"
        sni = self.cfg.servername or (None if port.host == port.address else port.host)
        try:
            found = await self.scheduler.identify(port.host, port.address, port.port, sni, seen_open=seen_open)
        except UnsafeTargetError as exc:
            return RunError(place, ErrorKind.REFUSED, str(exc))
        if found.service is None:
            why = f"port {port.port} has no registered service and {found.how}"
            name_it = f"name it: {place}/SERVICE or --port SERVICE={port.port}"
            return RunError(place, ErrorKind.BAD_TARGET, f"{why}; {name_it}")
        target = Target(port.host, port.address, port.port, found.service, port.origin)
        result = await self.scheduler.handshake(target, seen_open=seen_open)
        if not self.cfg.transcript:
            return result
        note = TranscriptEntry(Direction.NOTE, b"", 0.0, f"probed as {found.service.value}: {found.how}")
        return replace(result, transcript=(note, *result.transcript))

    async def scan_then_start(
        self,
        pairs: Sequence[tuple[str, str]],
        ports: Sequence[int],
        waiting: dict[tuple[str, int], list[SessionTarget]],
        *,
        shared: bool = False,
    ) -> None:
        async for result in self.scheduler.scan(pairs, ports, shared=shared):
            self.ports.append(result)
            if result.state is PortState.OPEN:
                self.start(waiting.pop((result.address, result.port), []), seen_open=True)

    def cancel(self) -> list[asyncio.Future[SessionOutcome]]:
        running = list(self.sessions.values())
        for task in running:
            task.cancel()
        return running

    def outcomes(self) -> tuple[list[HandshakeResult], list[RunError]]:
        """Handshakes in the order their targets were listed (the futures' insertion order), and the ports
        whose service could not be told."""
        ended = [task for task in self.sessions.values() if task.done() and not task.cancelled()]
        done = [task.result() for task in ended if task.exception() is None]
        return [o for o in done if isinstance(o, HandshakeResult)], [o for o in done if isinstance(o, RunError)]
