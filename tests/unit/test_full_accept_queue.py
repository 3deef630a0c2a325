"""A server whose accept queue is full drops SYNs (Linux: ListenOverflows): its port looks filtered though it
is open. Once a port on the path answered only its retry, silent ports there get more tries (nmap's rule)
before they are called filtered, and with sessions on the path (what keeps a server busy) a second round after
them. Real listening sockets on loopback, their queues filled by real connects."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from mailprobe.config import Config, Limits
from mailprobe.model import BusyPath, PortResult, PortState, ProbeStatus, Service, Target
from mailprobe.net.window import SessionWindows
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
    assert (result.busy_path, result.rounds) == (BusyPath.LOST_SYNS, 1)  # no session on the path: one round


def one_session_window(scheduler: Scheduler) -> None:
    scheduler.windows = SessionWindows(1, 1, 1)


async def hold_the_path(scheduler: Scheduler, until: asyncio.Event, then: Callable[[], None]) -> None:
    """What a session holds on its path (its window slot) until `until`; `then` runs before it lets go."""
    async with scheduler.windows.slot("127.0.0.1"):
        await until.wait()
        then()


async def lose_a_syn_on_the_path(scheduler: Scheduler) -> None:
    with full_listener() as (recovering, _):
        asyncio.get_running_loop().call_later(TIMEOUT / 2, drain, recovering)
        answered = await scan_one(scheduler, recovering.getsockname()[1])
    assert (answered.state, answered.attempts) == (PortState.OPEN, 2)


async def test_a_port_silent_while_sessions_run_on_its_path_gets_a_second_round_after_them() -> None:
    with full_listener() as (busy, _):
        async with Scheduler(config()) as scheduler:
            one_session_window(scheduler)
            await lose_a_syn_on_the_path(scheduler)
            session_over = asyncio.Event()
            session = asyncio.ensure_future(hold_the_path(scheduler, session_over, lambda: drain(busy)))
            scan = asyncio.ensure_future(scan_one(scheduler, busy.getsockname()[1]))
            await asyncio.sleep(1.5)  # the first round (3 tries, at most 0.3 + 0.3 + 0.6 s) has ended by now
            assert not scan.done()  # its second round waits behind the session
            session_over.set()  # the server is drained as the session ends
            result = await scan
            await session
    assert (result.state, result.attempts, result.rounds) == (PortState.OPEN, 4, 2)
    assert result.busy_path is BusyPath.LOST_SYNS


async def test_a_port_silent_in_both_rounds_is_filtered_with_the_loss_on_record() -> None:
    with full_listener() as (busy, _):
        async with Scheduler(config()) as scheduler:
            one_session_window(scheduler)
            await lose_a_syn_on_the_path(scheduler)
            session_over = asyncio.Event()
            session = asyncio.ensure_future(hold_the_path(scheduler, session_over, lambda: None))
            scan = asyncio.ensure_future(scan_one(scheduler, busy.getsockname()[1]))
            await asyncio.sleep(1.5)
            assert not scan.done()
            session_over.set()
            result = await scan
            await session
    assert (result.state, result.attempts, result.rounds) == (PortState.FILTERED, 6, 2)
    assert result.busy_path is BusyPath.LOST_SYNS


async def test_a_session_connect_follows_the_same_tries_rule() -> None:
    with full_listener() as (busy, _):
        async with Scheduler(config()) as scheduler:
            await lose_a_syn_on_the_path(scheduler)
            target = Target("127.0.0.1", "127.0.0.1", busy.getsockname()[1], Service.SMTP)
            result = await scheduler.handshake(target)
    assert (result.status, result.reason) == (ProbeStatus.CONNECT_TIMEOUT, "no answer to the TCP handshake (3 tries)")
    assert result.busy_path is BusyPath.LOST_SYNS


async def test_a_port_silent_where_sessions_stalled_gets_a_second_round_too() -> None:
    """No SYN lost yet, but sessions of the run to the path stalled: the server is busy (net/window.py)."""
    with full_listener() as (busy, _):
        async with Scheduler(config()) as scheduler:
            one_session_window(scheduler)
            scheduler.windows.stalled("127.0.0.1")
            session_over = asyncio.Event()
            session = asyncio.ensure_future(hold_the_path(scheduler, session_over, lambda: drain(busy)))
            scan = asyncio.ensure_future(scan_one(scheduler, busy.getsockname()[1]))
            await asyncio.sleep(1.0)  # the first round: 2 tries of at most 0.3 s
            assert not scan.done()
            session_over.set()
            result = await scan
            await session
    assert (result.state, result.attempts, result.rounds) == (PortState.OPEN, 3, 2)
    assert result.busy_path is BusyPath.STALLED_SESSIONS


async def test_a_stall_long_ago_is_no_evidence() -> None:
    with full_listener() as (busy, _):
        async with Scheduler(config()) as scheduler:
            scheduler.windows = SessionWindows(128, 4, 128, stall_memory=0.01)
            scheduler.windows.stalled("127.0.0.1")
            await asyncio.sleep(0.05)
            async with scheduler.windows.slot("127.0.0.1"):  # a session on the path: a second round would be due
                result = await scan_one(scheduler, busy.getsockname()[1])
    assert (result.state, result.attempts, result.rounds, result.busy_path) == (PortState.FILTERED, 2, 1, None)
