"""The round trip a connect teaches the run is the network's (the kernel's sample of the SYN-ACK), not the time
the event loop took to notice the answer: a loop busy starting a thousand connects notices late, and every
timeout learnt from its samples would be as much too long."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest

from mailprobe.model import PortState
from mailprobe.net import connect as connect_module
from mailprobe.net.connect import Answer, connect_adaptive, rtt_from_tcp_info
from mailprobe.net.connectscan import ConnectScanner
from mailprobe.net.limits import Slots
from mailprobe.net.timing import RttEstimator

BUSY = 0.25  # seconds the loop is kept from noticing an answer; loopback's round trip is microseconds


def tcp_info(rtt_us: int, size: int = 104) -> bytes:
    """A TCP_INFO answer as linux/tcp.h lays it out: 8 one-byte fields, then u32s, tcpi_rtt the 16th."""
    info = bytearray(size)
    struct.pack_into("=I", info, 8 + 15 * 4, rtt_us)
    return bytes(info)


def test_the_kernels_round_trip_is_read_from_tcp_info() -> None:
    assert rtt_from_tcp_info(tcp_info(52_000)) == pytest.approx(0.052)
    assert rtt_from_tcp_info(tcp_info(0)) is None  # no sample taken (yet)
    assert rtt_from_tcp_info(tcp_info(52_000)[:70]) is None  # another kernel's shorter structure


async def test_a_busy_loop_does_not_lengthen_the_round_trip_a_scan_learns(listener: int) -> None:
    timing = RttEstimator(ceiling=2.0)
    scanner = ConnectScanner(timing, Slots(8), per_turn=8, max_in_flight=8)
    try:
        result = scanner.submit("localhost", "127.0.0.1", listener, None)  # the SYN leaves within submit()
        time.sleep(BUSY)  # the loop is busy while the SYN-ACK arrives
        assert (await result).state is PortState.OPEN
    finally:
        scanner.close()
    srtt = timing.srtt("127.0.0.1")
    assert srtt is not None and srtt < BUSY / 10


async def test_a_sessions_connect_learns_the_kernels_round_trip(listener: int) -> None:
    timing = RttEstimator(ceiling=2.0)
    asyncio.get_running_loop().call_soon(time.sleep, BUSY)  # runs once the connect waits for its answer
    attempt, tries, _, sock = await connect_adaptive("127.0.0.1", listener, timing, keep=True)
    assert sock is not None
    sock.close()
    assert (attempt.answer, tries) == (Answer.SYN_ACK, 1)
    assert attempt.rtt < BUSY / 10 and timing.srtt("127.0.0.1") == attempt.rtt


async def test_without_tcp_info_the_loops_own_time_is_the_round_trip(
    listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connect_module, "_TCP_INFO", None)  # a system without TCP_INFO
    timing = RttEstimator(ceiling=2.0)
    asyncio.get_running_loop().call_soon(time.sleep, BUSY)
    attempt, _, _, _ = await connect_adaptive("127.0.0.1", listener, timing)
    assert attempt.answer is Answer.SYN_ACK and attempt.rtt >= BUSY


def test_the_kernel_keeps_its_sample_on_a_connected_socket(listener: int) -> None:
    """What handshake_rtt relies on: TCP_INFO of a socket whose connect was answered holds the SYN-ACK's round
    trip (a few microseconds to milliseconds on loopback)."""
    if not hasattr(socket, "TCP_INFO"):
        pytest.skip("TCP_INFO is Linux's")
    with socket.create_connection(("127.0.0.1", listener), timeout=2) as sock:
        rtt = rtt_from_tcp_info(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104))
    assert rtt is not None and 0 < rtt < 0.05
