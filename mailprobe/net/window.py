"""How many sessions run at once on one path (/24, /48): TCP's AIMD, applied to whole sessions.

A session that times out where the server had answered (its port was seen open; a handshake stalled after
the connect), or that took several times as long as the quickest session to the same port on that path, says
the servers there have more than they can take: a busy Dovecot leaves connections unaccepted once its login
processes are all taken, a busy Postfix finishes TLS handshakes late, and more sessions would only queue
behind them and time out. So the window halves (at most once per `COOL_DOWN`), and grows again as sessions
end well: by one per session until the first cut (slow start), by one per window's worth after it. Between
`floor` and `ceiling` (Limits.global_concurrency). Against many servers on many paths, each path's window
opens to the ceiling.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType

from mailprobe.net.timing import path_of

COOL_DOWN = 1.0  # seconds between two cuts of one path's window: one congestion event, one halving
SLOW = 8.0  # a session this many times as long as the quickest to the same port on its path counts as a stall
SLACK = 0.5  # seconds added to that, so jitter and a busy client are not a stall


@dataclass(slots=True)
class _Path:
    window: float
    in_use: int = 0
    cut_at: float = float("-inf")
    slow_start: bool = True
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    quickest: dict[int, float] = field(default_factory=dict)  # port -> seconds of its quickest good session
    tickets: int = 0  # sessions started so far, each numbered in turn
    running: dict[int, None] = field(default_factory=dict)  # their numbers, the oldest first
    watchers: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)  # (number, woken when older ended)


class SessionWindows:
    """`async with windows.slot(address):` around a session; `windows.ended(address, congested)` after it."""

    def __init__(self, start: int, floor: int, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.start = max(self.floor, min(start, self.ceiling))
        self._paths: dict[bytes | str, _Path] = {}

    def _path(self, address: str) -> _Path:
        key = path_of(address) or address
        found = self._paths.get(key)
        if found is None:
            found = self._paths[key] = _Path(float(self.start))
        return found

    def window(self, address: str) -> float:
        return self._path(address).window

    def in_use(self, address: str) -> int:
        """Sessions running now on the path of `address`."""
        return self._path(address).in_use

    def slot(self, address: str) -> _Slot:
        return _Slot(self, self._path(address))

    async def current_ended(self, address: str) -> None:
        """Return once every session running now on the path of `address` has ended (later ones not waited for)."""
        path = self._path(address)
        if not path.running:
            return
        watch = (path.tickets, asyncio.get_running_loop().create_future())
        path.watchers.append(watch)
        try:
            await watch[1]
        finally:
            if watch in path.watchers:  # cancelled while waiting
                path.watchers.remove(watch)

    def stall_after(self, address: str, port: int) -> float | None:
        """Seconds after which a session to `port` still running is a stall (None until one went well)."""
        best = self._path(address).quickest.get(port)
        return None if best is None else SLOW * best + SLACK

    def stalled(self, address: str) -> None:
        """A session is still running past stall_after: cut now rather than when it finally ends."""
        self.ended(address, congested=True)

    def ended(self, address: str, congested: bool, port: int = 0, seconds: float = 0.0) -> None:
        """A session is over: `congested` (it stalled), or it went well and took `seconds` to `port`."""
        path = self._path(address)
        if not congested and port:
            best = path.quickest.setdefault(port, seconds)
            path.quickest[port] = min(best, seconds)
            congested = seconds > SLOW * best + SLACK
        if congested:
            now = asyncio.get_running_loop().time()
            if now - path.cut_at >= COOL_DOWN:
                path.cut_at, path.slow_start = now, False
                path.window = max(float(self.floor), path.window / 2)
            return
        path.window = min(float(self.ceiling), path.window + (1.0 if path.slow_start else 1.0 / path.window))
        _wake(path)


def _wake(path: _Path) -> None:
    while path.waiting and path.in_use < int(path.window):
        turn = path.waiting.popleft()
        if not turn.done():
            path.in_use += 1
            turn.set_result(None)


class _Slot:
    __slots__ = ("_path", "_ticket", "_windows")

    def __init__(self, windows: SessionWindows, path: _Path) -> None:
        self._windows, self._path = windows, path
        self._ticket = -1

    async def __aenter__(self) -> None:
        path = self._path
        if path.waiting or path.in_use >= int(path.window):
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            path.waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    path.in_use -= 1
                    _wake(path)
                else:
                    path.waiting.remove(turn)
                raise
        else:
            path.in_use += 1
        path.tickets += 1
        self._ticket = path.tickets
        path.running[self._ticket] = None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        path = self._path
        path.in_use -= 1
        del path.running[self._ticket]
        if path.watchers:
            _tell_watchers(path)
        _wake(path)


def _tell_watchers(path: _Path) -> None:
    """Wake those waiting for the sessions that ran when they asked: every session numbered up to theirs ended."""
    oldest = next(iter(path.running), None)
    still = []
    for number, ended in path.watchers:
        if oldest is None or oldest > number:
            if not ended.done():
                ended.set_result(None)
        else:
            still.append((number, ended))
    path.watchers[:] = still
