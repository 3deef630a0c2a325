"""The error-queue parser on crafted sock_extended_err bytes, and the ICMP words."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from mailprobe.model import IcmpInfo, PortState
from mailprobe.net.connect import Answer, Attempt, result_from
from mailprobe.net.icmp import (
    IP_RECVERR,
    IPV6_RECVERR,
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SO_EE_ORIGIN_LOCAL,
    SOL_IP,
    SOL_IPV6,
    describe_icmp,
    parse_ancillary,
    parse_extended_error,
)

EHOSTUNREACH = 113
EACCES = 13


def extended_err(errno_: int, origin: int, icmp_type: int, code: int, offender: bytes) -> bytes:
    return struct.pack("=IBBBBII", errno_, origin, icmp_type, code, 0, 0, 0) + offender


def sockaddr_in(address: str) -> bytes:
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", 0) + ipaddress.IPv4Address(address).packed + b"\0" * 8


def sockaddr_in6(address: str) -> bytes:
    return (
        struct.pack("=H", socket.AF_INET6)
        + struct.pack("!HI", 0, 0)
        + ipaddress.IPv6Address(address).packed
        + struct.pack("=I", 0)
    )


def test_ipv4_admin_prohibited_from_a_router() -> None:
    data = extended_err(EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 3, 13, sockaddr_in("198.51.100.1"))
    parsed = parse_extended_error(SOL_IP, IP_RECVERR, data)
    assert parsed is not None
    assert parsed.errno == EHOSTUNREACH
    assert parsed.icmp_info() == IcmpInfo(3, 13, "198.51.100.1", "admin-prohibited")


def test_ipv6_admin_prohibited() -> None:
    data = extended_err(EACCES, SO_EE_ORIGIN_ICMP6, 1, 1, sockaddr_in6("2001:db8:51::1"))
    parsed = parse_extended_error(SOL_IPV6, IPV6_RECVERR, data)
    assert parsed is not None
    assert parsed.icmp_info() == IcmpInfo(1, 1, "2001:db8:51::1", "admin-prohibited")


def test_local_error_is_not_icmp() -> None:
    data = extended_err(90, SO_EE_ORIGIN_LOCAL, 0, 0, struct.pack("=H", 0) + b"\0" * 14)
    parsed = parse_extended_error(SOL_IP, IP_RECVERR, data)
    assert parsed is not None
    assert not parsed.is_icmp
    assert parsed.icmp_info() is None
    assert parsed.offender == ""


def test_other_control_messages_and_short_data_are_ignored() -> None:
    assert parse_extended_error(SOL_IP, 8, b"\0" * 32) is None  # IP_TTL, not an error
    assert parse_extended_error(SOL_IP, IP_RECVERR, b"\0" * 10) is None
    good = (SOL_IP, IP_RECVERR, extended_err(EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 3, 1, sockaddr_in("203.0.113.1")))
    found = parse_ancillary([(SOL_IP, 2, b"\x40"), good])
    assert found is not None and found.offender == "203.0.113.1"
    assert parse_ancillary([]) is None


def test_truncated_offender_gives_empty_sender() -> None:
    data = extended_err(EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 3, 1, struct.pack("=H", socket.AF_INET) + b"\0\0")
    parsed = parse_extended_error(SOL_IP, IP_RECVERR, data)
    assert parsed is not None and parsed.offender == ""


@given(st.binary(max_size=64), st.sampled_from([(SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR), (SOL_IP, 1)]))
def test_parser_never_raises_on_arbitrary_bytes(data: bytes, where: tuple[int, int]) -> None:
    parse_extended_error(where[0], where[1], data)


def test_icmp_words_match_nmap() -> None:
    assert describe_icmp(4, 3, 1) == "host-unreach"
    assert describe_icmp(4, 3, 3) == "port-unreach"
    assert describe_icmp(4, 3, 10) == "host-prohibited"
    assert describe_icmp(4, 11, 0) == "time-exceeded"
    assert describe_icmp(6, 1, 4) == "port-unreach"
    assert describe_icmp(6, 3, 0) == "time-exceeded"
    assert describe_icmp(4, 3, 99) == "unreach-code-99"


def test_attempt_to_result() -> None:
    icmp = IcmpInfo(3, 13, "198.51.100.1", "admin-prohibited")
    r = result_from("mx", "203.0.113.25", 25, Attempt(Answer.ICMP, 0.01, EHOSTUNREACH, icmp), 0.0123, 1, None)
    assert (r.state, r.reason, r.icmp, r.elapsed_ms) == (
        PortState.UNREACHABLE,
        "admin-prohibited from 198.51.100.1",
        icmp,
        12.3,
    )
    local = result_from("mx", "203.0.113.25", 25, Attempt(Answer.LOCAL, 0.0, 101), 0.0, 1, None)
    assert local.state is PortState.UNREACHABLE and local.reason == "net-unreach (local)"
    odd = result_from("mx", "203.0.113.25", 25, Attempt(Answer.LOCAL, 0.0, 1), 0.0, 1, None)
    assert odd.state is PortState.ERROR and "EPERM" in odd.reason
    silent = result_from("mx", "203.0.113.25", 25, Attempt(Answer.SILENT, 0.3), 0.6, 2, None)
    assert (silent.state, silent.reason, silent.attempts) == (PortState.FILTERED, "no-response", 2)
