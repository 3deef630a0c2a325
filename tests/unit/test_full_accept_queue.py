"""A server whose accept queue is full drops SYNs (Linux: ListenOverflows): its port looks filtered though it
is open. Once a port on the path answered only its retry, silent ports there get more tries (nmap's rule)
before they are called filtered. Real listening sockets on loopback, their queues filled by real connects."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from mailprobe.config import Config, Limits
from mailprobe.model import PortResult, PortState
from mailprobe.scheduler import Scheduler

TIMEOUT = 0.3  # before any round trip is known, a try waits this long (the ceiling)


@contextmanager
def full_listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    """A listening socket whose accept queue is full: the kernel drops the next SYN."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)  # room for one connection waiting to be accepted
    clients: list[socket.socket] = []
    try:
        for _ in range(2):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(server.getsockname())
            clients.append(client)
        yield server, clients
    finally:
        for client in clients:
            client.close()
        server.close()


def drain(server: socket.socket) -> None:
    """Accept what waits, so the next SYN gets through."""
    server.setblocking(False)
    while True:
        try:
            server.accept()[0].close()
        except BlockingIOError:
            return


async def scan_one(scheduler: Scheduler, port: int) -> PortResult:
    [result] = [r async for r in scheduler.scan([("127.0.0.1", "127.0.0.1")], [port])]
    return result


def config() -> Config:
    return Config(limits=Limits(connect_timeout=TIMEOUT), allow_nonpublic=True)


async def test_a_full_queue_is_silent_for_two_tries_on_a_path_that_lost_nothing() -> None:
    with full_listener() as (server, _):
        async with Scheduler(config()) as scheduler:
            result = await scan_one(scheduler, server.getsockname()[1])
    assert (result.state, result.attempts) == (PortState.FILTERED, 2)


async def test_after_a_port_answered_only_its_retry_a_silent_port_on_the_path_gets_a_third_try() -> None:
    with full_listener() as (busy, _), full_listener() as (recovering, _):
        async with Scheduler(config()) as scheduler:
            loop = asyncio.get_running_loop()
            loop.call_later(TIMEOUT / 2, drain, recovering)  # between the first try and the retry
            answered = await scan_one(scheduler, recovering.getsockname()[1])
            assert (answered.state, answered.attempts) == (PortState.OPEN, 2)
            result = await scan_one(scheduler, busy.getsockname()[1])
    assert (result.state, result.attempts) == (PortState.FILTERED, 3)
