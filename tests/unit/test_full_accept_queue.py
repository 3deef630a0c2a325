"""A server whose accept queue is full drops SYNs (Linux: ListenOverflows): its port looks filtered though it
is open. Once a port on the path answered only its retry, silent ports there get more tries (nmap's rule)
before they are called filtered. A silent port whose address answered, and whose own port number had answered
on the path, gets a second round after the path's sessions (if any); if that port number there showed a busy
service (it answered only a retry, or a session to it stalled), its silence is reported as busy, not filtered.
Real listening sockets on loopback, their queues filled by real connects."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest

from mailprobe import scheduler as scheduler_module
from mailprobe.config import Config, Limits
from mailprobe.model import BusyPath, PortResult, PortState, ProbeStatus, Service, Target
from mailprobe.net.window import SessionWindows
from mailprobe.scheduler import Scheduler

TIMEOUT = 0.3  # before any round trip is known, a try waits this long (the ceiling)
HOST = "127.0.0.1"


class Listener:
    """A listening socket with room for one connection waiting to be accepted; `fill()` takes that room (the
    kernel then drops the next SYN), `drain()` gives it back."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind((HOST, 0))
        self.server.listen(0)
        self.server.setblocking(False)
        self.port: int = self.server.getsockname()[1]
        self.clients: list[socket.socket] = []

    def fill(self) -> None:
        for _ in range(2):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex((HOST, self.port))
            self.clients.append(client)

    def drain(self) -> None:
        """Accept what waits, so the next SYN gets through."""
        while True:
            try:
                self.server.accept()[0].close()
            except BlockingIOError:
                return

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.close()


@contextmanager
def full_listener() -> Iterator[Listener]:
    listener = Listener()
    try:
        listener.fill()
        yield listener
    finally:
        listener.close()


async def scan_one(scheduler: Scheduler, port: int) -> PortResult:
    [result] = [r async for r in scheduler.scan([(HOST, HOST)], [port])]
    return result


def config() -> Config:
    return Config(limits=Limits(connect_timeout=TIMEOUT), allow_nonpublic=True)


async def answered_then_full(scheduler: Scheduler, listener: Listener) -> None:
    """The port answers a first scan at once (the service is there), then its queue fills (the server got busy)."""
    listener.drain()
    assert (await scan_one(scheduler, listener.port)).state is PortState.OPEN
    listener.drain()
    listener.fill()


async def answered_a_retry(scheduler: Scheduler, listener: Listener) -> None:
    """The full port answers only a retry (drained before the retry leaves): its earlier SYN was lost."""
    first_try = scheduler.timing.timeout(HOST)
    asyncio.get_running_loop().call_later(first_try / 2, listener.drain)
    answered = await scan_one(scheduler, listener.port)
    assert (answered.state, answered.attempts) == (PortState.OPEN, 2)


async def lost_a_syn_then_full(scheduler: Scheduler, listener: Listener) -> None:
    await answered_a_retry(scheduler, listener)
    listener.drain()
    listener.fill()


async def lose_a_syn_on_the_path(scheduler: Scheduler) -> None:
    """Another port of the path answers only a retry."""
    with full_listener() as other:
        await answered_a_retry(scheduler, other)


@asynccontextmanager
async def a_listener(*, one_session: bool = False) -> AsyncIterator[tuple[Scheduler, Listener]]:
    """A scheduler and a listener (its queue filled by the test's set-up); with `one_session`, the path's
    session window holds one session (a second one waits)."""
    listener = Listener()
    try:
        listener.fill()
        async with Scheduler(config()) as scheduler:
            if one_session:
                scheduler.windows = SessionWindows(1, 1, 1)
            yield scheduler, listener
    finally:
        listener.close()


async def hold_the_path(scheduler: Scheduler, until: asyncio.Event, then: Callable[[], None]) -> None:
    """What a session holds on its path (its window slot) until `until`; `then` runs before it lets go."""
    async with scheduler.windows.slot(HOST):
        await until.wait()
        then()


async def second_round_behind_a_session(
    scheduler: Scheduler, busy: Listener, at_its_end: Callable[[], None]
) -> PortResult:
    session_over = asyncio.Event()
    session = asyncio.ensure_future(hold_the_path(scheduler, session_over, at_its_end))
    scan = asyncio.ensure_future(scan_one(scheduler, busy.port))
    await asyncio.sleep(1.5)  # the first round (at most 3 tries: 0.3 + 0.3 + 0.6 s) has ended by now
    assert not scan.done()  # its second round waits behind the session
    session_over.set()
    result = await scan
    await session
    return result


async def test_a_full_queue_is_silent_for_two_tries_on_a_path_that_lost_nothing() -> None:
    with full_listener() as busy:
        async with Scheduler(config()) as scheduler:
            result = await scan_one(scheduler, busy.port)
    assert (result.state, result.attempts, result.busy_path) == (PortState.FILTERED, 2, None)


async def test_after_a_port_answered_only_its_retry_a_silent_port_on_the_path_gets_a_third_try() -> None:
    with full_listener() as busy:
        async with Scheduler(config()) as scheduler:
            await lose_a_syn_on_the_path(scheduler)
            result = await scan_one(scheduler, busy.port)
    assert (result.state, result.attempts) == (PortState.FILTERED, 3)
    assert result.busy_path is None  # it never answered on the path: a filter's pattern, busy path or not


async def test_another_ports_lost_syns_do_not_make_this_port_busy() -> None:
    """Random loss on the way hits any port; a busy service drops its own port's SYNs."""
    async with a_listener() as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        await lose_a_syn_on_the_path(scheduler)
        result = await scan_one(scheduler, listener.port)
    assert (result.state, result.attempts, result.busy_path) == (PortState.FILTERED, 3, None)


async def test_a_port_that_answered_only_a_retry_then_went_silent_is_busy_not_filtered() -> None:
    async with a_listener() as (scheduler, listener):
        await lost_a_syn_then_full(scheduler, listener)
        result = await scan_one(scheduler, listener.port)
    assert (result.state, result.attempts, result.rounds) == (PortState.FILTERED, 3, 1)  # no session: one round
    assert result.busy_path is BusyPath.LOST_SYNS


async def test_with_sessions_on_the_path_it_gets_a_second_round_after_them() -> None:
    async with a_listener(one_session=True) as (scheduler, listener):
        await lost_a_syn_then_full(scheduler, listener)
        result = await second_round_behind_a_session(scheduler, listener, listener.drain)  # drained as it ends
    assert (result.state, result.attempts, result.rounds) == (PortState.OPEN, 4, 2)
    assert result.busy_path is BusyPath.LOST_SYNS


async def test_a_port_silent_in_both_rounds_is_filtered_with_the_busy_path_on_record() -> None:
    async with a_listener(one_session=True) as (scheduler, listener):
        await lost_a_syn_then_full(scheduler, listener)
        result = await second_round_behind_a_session(scheduler, listener, lambda: None)
    assert (result.state, result.attempts, result.rounds) == (PortState.FILTERED, 6, 2)
    assert result.busy_path is BusyPath.LOST_SYNS


async def test_a_port_silent_where_a_session_to_it_stalled_gets_a_second_round_too() -> None:
    """No SYN lost, but a session of the run to that port stalled: the service is busy (net/window.py)."""
    async with a_listener(one_session=True) as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        scheduler.stalled(HOST, listener.port)
        result = await second_round_behind_a_session(scheduler, listener, listener.drain)
    assert (result.state, result.attempts, result.rounds) == (PortState.OPEN, 3, 2)
    assert result.busy_path is BusyPath.STALLED_SESSIONS


async def test_a_sign_long_ago_is_no_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "BUSY_MEMORY", 0.01)
    async with a_listener() as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        scheduler.stalled(HOST, listener.port)
        await asyncio.sleep(0.05)
        result = await scan_one(scheduler, listener.port)
    assert (result.state, result.attempts, result.rounds, result.busy_path) == (PortState.FILTERED, 2, 1, None)


async def test_silent_while_the_runs_sessions_were_on_the_path_it_is_probed_again_after_them() -> None:
    """No sign of a busy service yet (none answered only a retry, none stalled), but the address and this port
    number had answered, and sessions of the run were on the path: they may be what keeps the server busy."""
    async with a_listener(one_session=True) as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        result = await second_round_behind_a_session(scheduler, listener, listener.drain)
    assert (result.state, result.attempts, result.rounds, result.busy_path) == (PortState.OPEN, 3, 2, None)


async def test_silent_in_both_rounds_without_a_sign_of_a_busy_service_it_is_filtered() -> None:
    async with a_listener(one_session=True) as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        result = await second_round_behind_a_session(scheduler, listener, lambda: None)
    assert (result.state, result.attempts, result.rounds, result.busy_path) == (PortState.FILTERED, 4, 2, None)


async def test_a_sign_seen_by_the_end_of_the_second_round_makes_its_silence_a_note() -> None:
    async with a_listener(one_session=True) as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        stall = lambda: scheduler.stalled(HOST, listener.port)  # noqa: E731 (the session stalled, then ended)
        result = await second_round_behind_a_session(scheduler, listener, stall)
    assert (result.state, result.rounds, result.busy_path) == (PortState.FILTERED, 2, BusyPath.STALLED_SESSIONS)


async def test_a_port_never_heard_on_the_path_gets_no_second_round() -> None:
    """Silent across the path (a filter's pattern): sessions on the path change nothing."""
    with full_listener() as never:
        async with a_listener() as (scheduler, listener):
            await answered_then_full(scheduler, listener)  # the address answered, on another port
            async with scheduler.windows.slot(HOST):
                result = await scan_one(scheduler, never.port)
    assert (result.state, result.attempts, result.rounds, result.busy_path) == (PortState.FILTERED, 2, 1, None)


async def test_a_session_connect_on_a_busy_path_is_reported_as_such() -> None:
    """Its connect keeps one retry (net/connect.py SESSION_RETRIES); the busy service goes on record."""
    with full_listener() as never:
        async with a_listener() as (scheduler, listener):
            await lost_a_syn_then_full(scheduler, listener)
            busy = await scheduler.handshake(Target(HOST, HOST, listener.port, Service.SMTP))
            silent = await scheduler.handshake(Target(HOST, HOST, never.port, Service.SMTP))
    for result in (busy, silent):
        assert result.status is ProbeStatus.CONNECT_TIMEOUT
        assert result.reason == "no answer to the TCP handshake (2 tries)"
    assert (busy.busy_path, silent.busy_path) == (BusyPath.LOST_SYNS, None)


async def test_an_address_that_answered_nothing_is_no_busy_server() -> None:
    """Its port number on the path shows a busy service, but the address itself never answered: a host down or
    filtered as a whole (busy_path is pure: nothing is sent to the other address)."""
    async with a_listener() as (scheduler, listener):
        await answered_then_full(scheduler, listener)
        scheduler.stalled(HOST, listener.port)
        assert scheduler.busy_path(HOST, listener.port) is BusyPath.STALLED_SESSIONS
        assert scheduler.busy_path("127.0.0.2", listener.port) is None


async def test_the_ports_heard_are_kept_for_a_bounded_number_of_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory stays flat over a scan of many networks: the least recently heard path is forgotten, and a
    silent port there is then judged as a firewall's (no busy note)."""
    monkeypatch.setattr(scheduler_module, "ANSWERED_PATHS", 1)
    ipv6 = socket.socket(socket.AF_INET6)
    ipv6.bind(("::1", 0))
    ipv6.listen(8)
    try:
        async with a_listener() as (scheduler, listener):
            await answered_then_full(scheduler, listener)
            scheduler.stalled(HOST, listener.port)
            assert scheduler.busy_path(HOST, listener.port) is BusyPath.STALLED_SESSIONS
            [other] = [r async for r in scheduler.scan([("::1", "::1")], [ipv6.getsockname()[1]])]
            assert other.state is PortState.OPEN  # heard on another path: the first one is forgotten
            assert scheduler.busy_path(HOST, listener.port) is None
    finally:
        ipv6.close()
