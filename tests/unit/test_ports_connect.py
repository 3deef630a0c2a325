"""Connect probe and scan on loopback: open, closed, filtered (a full accept queue drops SYNs), guard, order."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from mailprobe.config import Config, Limits
from mailprobe.errors import UnsafeTargetError
from mailprobe.model import PortState, Service
from mailprobe.net.connect import probe_port
from mailprobe.probes.ports import scan, scan_all, scan_order


@pytest.fixture
def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()  # nothing listens there now: the kernel answers SYNs with RST
    return port


@pytest.fixture
def full_listener() -> Iterator[int]:
    """A listener whose accept queue is full: the kernel drops further SYNs, exactly like a filter."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(2):  # backlog 0 admits one; the second may still be in SYN_SENT: both are harmless
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        fillers.append(client)
    yield port
    for client in fillers:
        client.close()
    server.close()


def test_open_port(listener: int) -> None:
    result = asyncio.run(probe_port("127.0.0.1", listener, 2.0))
    assert result.state is PortState.OPEN
    assert result.reason == "syn-ack"
    assert result.attempts == 1
    assert 0 < result.elapsed_ms < 2000


def test_closed_port(free_port: int) -> None:
    result = asyncio.run(probe_port("127.0.0.1", free_port, 2.0, host="localhost"))
    assert result.state is PortState.CLOSED
    assert result.reason == "conn-refused"
    assert result.icmp is None
    assert result.host == "localhost"


def test_ipv6_open_and_closed() -> None:
    sock = socket.socket(socket.AF_INET6)
    sock.bind(("::1", 0))
    sock.listen(4)
    port = sock.getsockname()[1]
    try:
        assert asyncio.run(probe_port("::1", port, 2.0)).state is PortState.OPEN
    finally:
        sock.close()
    assert asyncio.run(probe_port("::1", port, 2.0)).state is PortState.CLOSED


def test_silent_port_is_filtered_after_one_retry(full_listener: int) -> None:
    result = asyncio.run(probe_port("127.0.0.1", full_listener, 0.3))
    assert result.state is PortState.FILTERED
    assert result.reason == "no-response"
    assert result.attempts == 2
    assert 550 <= result.elapsed_ms < 2000  # two attempts of 0.3 s, and no more


def test_guard_refuses_before_sending() -> None:
    with pytest.raises(UnsafeTargetError):
        asyncio.run(probe_port("198.18.0.1", 25, 1.0))


def test_service_comes_from_config(listener: int) -> None:
    cfg = Config(ports=((Service.SMTP, listener),))
    [result] = asyncio.run(scan_all([("lo", "127.0.0.1")], [listener], cfg))
    assert result.service is Service.SMTP


def test_scan_mixes_states_and_reports_bad_targets(listener: int, free_port: int, full_listener: int) -> None:
    cfg = Config(limits=Limits(connect_timeout=1.0))
    targets = [("a", "127.0.0.1"), ("bad", "not-an-address"), ("outside", "198.18.0.7")]
    results = asyncio.run(scan_all(targets, [listener, free_port, full_listener], cfg))
    states = {(r.host, r.port): r.state for r in results}
    assert states[("a", listener)] is PortState.OPEN
    assert states[("a", free_port)] is PortState.CLOSED
    assert states[("a", full_listener)] is PortState.FILTERED
    assert all(states[("bad", p)] is PortState.ERROR for p in (listener, free_port, full_listener))
    assert all(states[("outside", p)] is PortState.BLOCKED for p in (listener, free_port, full_listener))
    outside = [r for r in results if r.host == "outside"]
    assert all("safety guard" in r.reason for r in outside)
    # ordered by target then port as given
    assert [(r.host, r.port) for r in results][:3] == [("a", listener), ("a", free_port), ("a", full_listener)]


def test_filtered_port_times_out_after_learned_round_trips(listener: int, full_listener: int) -> None:
    """With answers measured on loopback, a silent port costs well under the 5 s ceiling."""
    cfg = Config(limits=Limits(connect_timeout=5.0))
    results = asyncio.run(scan_all([("a", "127.0.0.1")], [listener, full_listener], cfg))
    filtered = next(r for r in results if r.port == full_listener)
    assert filtered.state is PortState.FILTERED
    assert filtered.elapsed_ms < 2500, filtered


def test_scan_yields_as_results_come(listener: int, full_listener: int) -> None:
    async def first() -> PortState:
        stream = scan([("a", "127.0.0.1")], [full_listener, listener], Config(limits=Limits(connect_timeout=3.0)))
        async for result in stream:
            await stream.aclose()  # stopping early cancels the rest cleanly
            return result.state
        raise AssertionError("nothing yielded")

    assert asyncio.run(first()) is PortState.OPEN


def test_scan_order_is_target_by_target_without_duplicates() -> None:
    order = list(scan_order([("a", "1"), ("b", "2"), ("a", "1")], [25, 587]))
    assert order == [("a", "1", 25), ("a", "1", 587), ("b", "2", 25), ("b", "2", 587)]


def test_raw_mode_without_privileges_falls_back_to_connect(listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    import mailprobe.net.raw
    from mailprobe.probes.ports import raw_fallback_reason

    assert raw_fallback_reason(Config()) is None  # connect mode asked for: nothing to explain
    monkeypatch.setattr(mailprobe.net.raw, "raw_unavailable_reason", lambda: "raw probes need root (test)")
    cfg = replace(Config(), raw=True)
    assert raw_fallback_reason(cfg) == "--raw: raw probes need root (test); using connect mode"
    [result] = asyncio.run(scan_all([("lo", "127.0.0.1")], [listener], cfg))
    assert (result.state, result.reason, result.ttl) == (PortState.OPEN, "syn-ack", None)
