"""The run's scheduler over loopback: nothing lost, states and order right, slow work holds nobody else up,
handshakes start as their port opens and give up silence like the scan, per-destination caps (the cluster
hook) are honoured, and targets are read no further ahead than the admission window."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest

from mailprobe.config import Config, Limits
from mailprobe.engine import Stages, indexed_stream, merge
from mailprobe.model import PortState, ProbeStatus, Service
from mailprobe.net.connectscan import ConnectScanner
from mailprobe.net.limits import LaunchGate, Slots
from mailprobe.net.timing import RttEstimator
from mailprobe.net.window import SessionWindows
from mailprobe.scheduler import LocalDestinationLimits, Scheduler

PORTS_ONLY = Stages(dns=False, ports=True, handshake=False)
SESSIONS_ONLY = Stages(dns=False, ports=False, handshake=True)


@pytest.fixture
def open_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.setblocking(False)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, as a filter would."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(2):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        fillers.append(client)
    yield port
    for client in fillers:
        client.close()
    server.close()


REPLIES = {b"EHLO": b"250-stub.test\r\n250 8BITMIME\r\n", b"QUIT": b"221 bye\r\n"}


class SmtpStub:
    """Just enough SMTP for a handshake (no TLS offered); notes when each connection arrived."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.monotonic())
        self._writers.add(writer)
        writer.write(b"220 stub.test ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line.split(b" ", 1)[0].strip().upper()
                writer.write(REPLIES.get(verb, b"502 no\r\n"))
                await writer.drain()
                if verb == b"QUIT":
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def collect(texts: list[str], cfg: Config, stages: Stages) -> list[tuple[int, object]]:
    return [item async for item in indexed_stream(texts, cfg, stages)]


async def test_every_target_once_with_its_states_in_a_stable_order(
    open_port: int, closed_port: int, silent_port: int
) -> None:
    ports = (silent_port, open_port, closed_port)
    cfg = Config(scan_ports=ports, limits=Limits(connect_timeout=2.0, probes_per_address=1000))
    texts = ["127.0.0.1", "::1", "127.0.0.1"] * 40  # repeated targets are separate targets
    done = await collect(texts, cfg, PORTS_ONLY)
    assert sorted(index for index, _ in done) == list(range(len(texts)))
    for index, report in done:
        assert report.targets == (texts[index],)  # type: ignore[attr-defined]
        found = [(r.port, r.state) for r in report.ports]  # type: ignore[attr-defined]
        expected_v4 = [(silent_port, PortState.FILTERED), (open_port, PortState.OPEN), (closed_port, PortState.CLOSED)]
        if texts[index] == "127.0.0.1":
            assert found == expected_v4  # in the order asked, whatever order the answers came in
        else:
            assert [port for port, _ in found] == list(ports)  # nothing listens on ::1 here
            assert {state for _, state in found} <= {PortState.CLOSED, PortState.FILTERED}


async def test_a_slow_target_holds_up_no_other(silent_port: int) -> None:
    """Target 0 has a silent port; the ten after it finish (and are emitted) while it waits."""
    stub = SmtpStub()
    smtp = await stub.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=3.0, read_timeout=2.0, targets_in_flight=4),
            ports=((Service.SMTP, smtp), (Service.SUBMISSION, silent_port)),
        )
        texts = [f"127.0.0.1:{silent_port}"] + [f"127.0.0.1:{smtp}"] * 10
        done = await collect(texts, cfg, SESSIONS_ONLY)
    finally:
        await stub.stop()
    assert [index for index, _ in done][-1] == 0
    slow = done[-1][1].handshakes[0]  # type: ignore[attr-defined]
    assert slow.status is ProbeStatus.CONNECT_TIMEOUT
    assert all(r.handshakes[0].status is ProbeStatus.SUCCESS for _, r in done[:-1])  # type: ignore[attr-defined]


async def test_a_session_starts_as_soon_as_its_port_is_open(silent_port: int) -> None:
    stub = SmtpStub()
    smtp = await stub.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=3.0, read_timeout=2.0),
            ports=((Service.SMTP, smtp), (Service.SUBMISSION, silent_port)),
            services=(Service.SMTP, Service.SUBMISSION),
        )
        started = time.monotonic()
        [(_, report)] = await collect(["127.0.0.1"], cfg, Stages(dns=False))
    finally:
        await stub.stop()
    silent = next(r for r in report.ports if r.port == silent_port)  # type: ignore[attr-defined]
    assert silent.state is PortState.FILTERED
    assert len(stub.accepted) == 2  # the scan's probe, then the session
    session_began = stub.accepted[-1] - started
    assert session_began < silent.elapsed_ms / 1000 - 0.1  # before the scan had decided the silent port
    assert [h.target.port for h in report.handshakes] == [smtp]  # type: ignore[attr-defined]


async def test_a_session_gives_up_silence_after_learnt_round_trips(silent_port: int) -> None:
    """--timeout 5 is the ceiling; a silent port is given up after a few round trips, like the scan's."""
    stub = SmtpStub()
    smtp = await stub.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=5.0, read_timeout=2.0),
            ports=((Service.SMTP, smtp), (Service.SUBMISSION, silent_port)),
        )
        silent_twice = [f"127.0.0.1:{silent_port}", f"localhost:{silent_port}"]
        done = await collect([f"127.0.0.1:{smtp}", *silent_twice], cfg, SESSIONS_ONLY)
    finally:
        await stub.stop()
    reports = dict(done)
    silent = reports[1].handshakes[0]  # type: ignore[attr-defined]
    assert silent.status is ProbeStatus.CONNECT_TIMEOUT
    assert silent.reason == "no answer to the TCP handshake (2 tries)"  # the time is elapsed_ms's, not the words'
    assert silent.elapsed_ms < 2000, silent
    # Silence on two targets, each timed differently, is one problem: one finding naming both.
    merged = merge([reports[i] for i in sorted(reports)], "handshake")  # type: ignore[misc]
    filtered = [f for f in merged.findings if f.code == "PORT-FILTERED"]
    assert len(filtered) == 1 and filtered[0].target == "127.0.0.1, localhost", merged.findings


class CountingLimits:
    """A stand-in for a cluster-wide limiter: one at a time per address, and a record of what it saw."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.busy: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def _slot(self, kind: str, address: str) -> AsyncIterator[None]:
        self.calls[kind] += 1
        async with self._locks.setdefault(address, asyncio.Lock()):
            self.busy[address] += 1
            self.most[address] = max(self.most[address], self.busy[address])
            try:
                yield
            finally:
                self.busy[address] -= 1

    def probe(self, address: str) -> AsyncIterator[None]:  # type: ignore[override]
        return self._slot("probe", address)  # type: ignore[return-value]

    def session(self, address: str) -> AsyncIterator[None]:  # type: ignore[override]
        return self._slot("session", address)  # type: ignore[return-value]


async def test_destination_limits_are_pluggable_and_honoured(closed_port: int) -> None:
    stubs = [SmtpStub(), SmtpStub()]
    smtp, submission = [await stub.start() for stub in stubs]
    limits = CountingLimits()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=2.0, read_timeout=2.0),
            ports=((Service.SMTP, smtp), (Service.SUBMISSION, submission), (Service.IMAP, closed_port)),
            services=(Service.SMTP, Service.SUBMISSION, Service.IMAP),
        )
        done = [item async for item in indexed_stream(["127.0.0.1"] * 3, cfg, Stages(dns=False), destinations=limits)]
    finally:
        for stub in stubs:
            await stub.stop()
    assert len(done) == 3
    assert limits.calls["probe"] == 3  # each target's scan of the address (its 3 ports together)
    assert limits.calls["session"] == 6  # the two open ports of each target
    assert limits.most["127.0.0.1"] == 1


async def test_targets_are_read_no_further_ahead_than_the_window(open_port: int) -> None:
    pulled = 0

    def source() -> Iterator[str]:
        nonlocal pulled
        for _ in range(40):
            pulled += 1
            yield "127.0.0.1"

    cfg = Config(scan_ports=(open_port,), limits=Limits(targets_in_flight=3))
    emitted = 0
    async for _ in indexed_stream(source(), cfg, PORTS_ONLY):
        emitted += 1
        assert pulled - emitted <= 3
    assert emitted == pulled == 40


async def test_an_idle_run_keeps_no_per_address_state(open_port: int) -> None:
    async with Scheduler(Config(scan_ports=(open_port,))) as scheduler:
        results = [r async for r in scheduler.scan([("a", "127.0.0.1"), ("b", "::1")], [open_port])]
        assert len(results) == 2
        assert isinstance(scheduler.destinations, LocalDestinationLimits)
        assert scheduler.destinations.tracked() == 0
        assert scheduler.fds.free == scheduler.fds.capacity


async def test_slots_are_first_come_first_served() -> None:
    slots = Slots(3)
    order: list[str] = []

    async def take(name: str, count: int) -> None:
        async with slots.hold(count):
            order.append(name)
            await asyncio.sleep(0.01)

    async with slots.hold(2):
        tasks = [asyncio.ensure_future(take("big", 3)), asyncio.ensure_future(take("small", 1))]
        await asyncio.sleep(0.01)
        assert order == []  # one slot is free, but the big request came first: the small one waits behind it
    await asyncio.gather(*tasks)
    assert order == ["big", "small"]
    assert slots.free == 3


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    slots = Slots(1)
    async with slots.hold():
        waiter = asyncio.ensure_future(slots.acquire(1))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with slots.hold():
        assert slots.free == 0
    assert slots.free == 1


async def test_the_launch_gate_says_at_once_whether_this_turn_has_room() -> None:
    gate = LaunchGate(2)
    assert [gate.try_pass() for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0)  # the next turn: the budget is whole again
    assert gate.try_pass()


async def test_the_launch_gate_lets_a_few_through_per_loop_turn() -> None:
    gate = LaunchGate(4)
    turns: list[int] = []
    turn = 0

    async def ticker() -> None:
        nonlocal turn
        while True:
            turn += 1
            await asyncio.sleep(0)

    async def launch() -> None:
        await gate.wait()
        turns.append(turn)

    clock = asyncio.ensure_future(ticker())
    await asyncio.gather(*(launch() for _ in range(12)))
    clock.cancel()
    assert len(turns) == 12
    assert max(Counter(turns).values()) <= 4
    assert len(set(turns)) >= 3


async def test_a_paths_session_window_halves_on_a_stall_and_grows_back() -> None:
    windows = SessionWindows(start=8, floor=2, ceiling=20)
    server, elsewhere = "203.0.113.25", "198.51.100.7"
    for _ in range(4):
        windows.ended(server, congested=False)  # slow start: one more per session that ended well
    assert windows.window(server) == 12
    windows.ended(server, congested=True)
    windows.ended(server, congested=True)  # the same stall seen twice within a second: one cut
    assert windows.window(server) == 6
    assert windows.window("203.0.113.99") == 6  # the same /24: the same servers' path
    assert windows.window(elsewhere) == 8
    for _ in range(6):
        windows.ended(server, congested=False)  # after a cut: one more per window's worth
    assert 6 < windows.window(server) < 7.5
    windows.ended(elsewhere, False, 993, 0.2)
    windows.ended(elsewhere, False, 993, 0.5)  # slower, but within the slack
    assert windows.window(elsewhere) == 10
    windows.ended(elsewhere, False, 993, 2.5)  # over SLOW x the quickest + SLACK: a stall though it succeeded
    assert windows.window(elsewhere) == 5

    holding = [windows.slot(server) for _ in range(6)]
    for slot in holding:
        await slot.__aenter__()
    late = asyncio.ensure_future(windows.slot(server).__aenter__())
    await asyncio.sleep(0)
    assert not late.done()  # the window is full
    await holding[0].__aexit__(None, None, None)
    await asyncio.sleep(0)
    assert late.done()


async def test_waiting_for_the_sessions_running_now_ignores_later_ones() -> None:
    windows = SessionWindows(start=8, floor=2, ceiling=20)
    server = "203.0.113.25"
    await asyncio.wait_for(windows.current_ended(server), 0.1)  # none running: at once
    older, newer = windows.slot(server), windows.slot(server)
    await older.__aenter__()
    watch = asyncio.ensure_future(windows.current_ended(server))
    await asyncio.sleep(0)  # the watch begins
    await newer.__aenter__()  # started after it: not waited for
    await asyncio.sleep(0)
    assert not watch.done()
    await older.__aexit__(None, None, None)
    await asyncio.wait_for(watch, 0.1)
    gave_up = asyncio.ensure_future(windows.current_ended(server))  # waits for `newer`, then is cancelled
    await asyncio.sleep(0)
    gave_up.cancel()
    await asyncio.sleep(0)
    assert gave_up.cancelled() and not windows._path(server).watchers  # no watcher is left behind
    await newer.__aexit__(None, None, None)


def test_what_counts_as_a_stall() -> None:
    from mailprobe.model import HandshakeResult, Target
    from mailprobe.scheduler import congested

    target = Target("mx", "203.0.113.25", 25, Service.SMTP)

    def result(status: ProbeStatus, reason: str = "") -> HandshakeResult:
        return HandshakeResult(target, status, reason, 0.0)

    assert congested(result(ProbeStatus.IO_TIMEOUT), seen_open=False)
    assert congested(result(ProbeStatus.TLS_HANDSHAKE_TIMEOUT), False)
    # Judged by type, never by the words: a failure that says "timed out" is still a failure.
    assert not congested(result(ProbeStatus.TLS_HANDSHAKE_ERROR, "TLS handshake failed: timed out"), False)
    after_tls = result(ProbeStatus.POST_TLS_ERROR, "after TLS: io-timeout: no reply within 5 s")
    assert congested(replace(after_tls, post_tls_status=ProbeStatus.IO_TIMEOUT), False)
    assert not congested(replace(after_tls, post_tls_status=ProbeStatus.CLOSED), False)
    assert congested(result(ProbeStatus.CONNECT_TIMEOUT), seen_open=True)
    assert not congested(result(ProbeStatus.CONNECT_TIMEOUT), seen_open=False)  # a filtered port, not a busy one
    assert not congested(result(ProbeStatus.SUCCESS), seen_open=True)


async def test_targets_may_come_from_an_async_source(open_port: int) -> None:
    """What a cluster front end feeds: an async iterable, read as the window allows; reports in any order,
    each with its position."""

    async def source() -> AsyncIterator[str]:
        for text in ("127.0.0.1", "::1", "127.0.0.1"):
            await asyncio.sleep(0)
            yield text

    cfg = Config(scan_ports=(open_port,), limits=Limits(connect_timeout=1.0))
    done = dict([item async for item in indexed_stream(source(), cfg, PORTS_ONLY)])
    assert sorted(done) == [0, 1, 2]
    assert [done[i].targets for i in range(3)] == [("127.0.0.1",), ("::1",), ("127.0.0.1",)]  # type: ignore[attr-defined]
    assert done[0].ports[0].state is PortState.OPEN  # type: ignore[attr-defined]


@pytest.mark.parametrize(("processes", "sessions", "connects"), [(1, 128, 1024), (2, 64, 512), (64, 4, 16)])
async def test_a_run_spread_over_processes_starts_as_gently_as_one(
    processes: int, sessions: int, connects: int
) -> None:
    """--jobs N: each process opens 1/N of the starting windows (at least their floors), so N of them start no
    harder than one; each window then grows with its own answers."""
    async with Scheduler(Config(limits=Limits(processes=processes))) as scheduler:
        assert scheduler.windows.window("203.0.113.5") == sessions
        async for _ in scheduler.scan([("localhost", "127.0.0.1")], []):
            pass
        scanner = scheduler._scanner()
        assert isinstance(scanner, ConnectScanner) and scanner.window == connects


def test_processes_that_share_a_run_divide_its_run_wide_limits() -> None:
    alone = Limits().for_timeout(3)
    shared = alone.shared_by(2)
    assert (shared.global_concurrency, shared.targets_in_flight, shared.probes_in_flight) == (128, 128, 1024)
    assert shared.raw_rate == alone.raw_rate / 2 and shared.processes == 2
    # What bounds one session or one address is each process's own.
    kept = ("per_host", "probes_per_address", "connect_timeout", "read_timeout", "session_timeout", "max_reply")
    assert all(getattr(shared, name) == getattr(alone, name) for name in kept)
    assert alone.shared_by(1000).global_concurrency == 1 and alone.shared_by(0) == replace(alone, processes=1)


async def test_a_connect_leaves_when_submitted_up_to_a_turns_budget(open_port: int) -> None:
    """The first SYNs leave as their probes are submitted (a scan of many targets does not wait until the last
    target is read); at most per_turn of them in one turn of the loop, the rest in the next."""
    scanner = ConnectScanner(RttEstimator(ceiling=2.0), Slots(64), per_turn=2, max_in_flight=64)
    try:
        results = [scanner.submit("localhost", "127.0.0.1", open_port, None) for _ in range(3)]
        assert scanner.in_flight == 2  # started within submit(), before this coroutine yielded
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert scanner.in_flight + sum(result.done() for result in results) == 3  # the third: the next turn
        assert [(await result).state for result in results] == [PortState.OPEN] * 3
    finally:
        scanner.close()
