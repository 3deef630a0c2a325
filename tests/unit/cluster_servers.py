"""Loopback servers and process helpers for the cluster tests.

CountingSmtp: a minimal SMTP dialogue (greeting, 250 to everything, 221 to QUIT) that counts the connections
open at once (the peak is what a per-destination limit must bound, counted where it matters: at the
server), holds each greeting back `hold` seconds, and can hand each new connection's client port to a
callback (to find and end the worker process that connected).

owner_of(port): the process, among this test process's own descendants (the LocalCluster's nannies and
workers), that holds the local end of a TCP connection from that port. Nothing else is ever looked at or
ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

import psutil


class CountingSmtp:
    def __init__(self, hold: float = 0.0, on_accept: Callable[[int], None] | None = None) -> None:
        self.hold, self.on_accept = hold, on_accept
        self.open_now: set[int] = set()  # client ports of the connections open now
        self.peak = 0
        self.total = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = int(writer.get_extra_info("peername")[1])
        self.open_now.add(port)
        self.total += 1
        self.peak = max(self.peak, len(self.open_now))
        try:
            if self.on_accept is not None:
                self.on_accept(port)
            await asyncio.sleep(self.hold)
            writer.write(b"220 cluster.test ESMTP\r\n")
            while line := await asyncio.wait_for(reader.readline(), 10):
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-cluster.test\r\n250 PIPELINING\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            self.open_now.discard(port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def owner_of(port: int) -> psutil.Process | None:
    """Our own descendant process whose TCP socket is bound to local port `port` (None if none is)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if any(c.laddr and c.laddr.port == port for c in child.net_connections(kind="tcp")):
                return child
        except psutil.Error:
            continue
    return None


def kill(process: psutil.Process) -> None:
    """SIGKILL one process we started, by its PID."""
    if process.pid in {p.pid for p in psutil.Process().children(recursive=True)}:
        os.kill(process.pid, signal.SIGKILL)


def killer_of_probers(deaths: list[int]) -> Callable[[int], None]:
    """An on_accept callback: ends the worker process that connected (ours only), noting its PID."""

    def kill_the_prober(peer: int) -> None:
        owner = owner_of(peer)
        if owner is not None:
            deaths.append(owner.pid)
            kill(owner)

    return kill_the_prober
