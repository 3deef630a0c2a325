"""In-process servers on an event loop of their own, in a thread: the CLI (CliRunner or a subprocess) runs
its own loop, so the servers it talks to cannot share it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Startable(Protocol):
    async def start(self) -> int: ...

    async def stop(self) -> None: ...


@contextmanager
def serving(*servers: Startable) -> Iterator[list[int]]:
    """Start each server on 127.0.0.1 (an ephemeral port each), yield the ports, stop them afterwards."""
    loop = asyncio.new_event_loop()
    ports = [loop.run_until_complete(server.start()) for server in servers]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield ports
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


class UdpCounter:
    """A UDP socket on 127.0.0.1 that counts what it receives and never answers: a --resolver that shows
    whether anything was asked of DNS."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    def received(self) -> int:
        count = 0
        while True:
            try:
                self.sock.recv(4096)
            except BlockingIOError:
                return count
            count += 1

    def close(self) -> None:
        self.sock.close()
