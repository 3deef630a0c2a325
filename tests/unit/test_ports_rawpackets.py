"""Raw mode's bytes: our SYN checked by scapy, and answers (crafted with scapy) matched to the probe they answer."""

from __future__ import annotations

import ipaddress

from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6

from mailprobe.model import PortState, Service
from mailprobe.net.packets import (
    Kind,
    checksum,
    parse_icmpv6,
    parse_ipv4,
    parse_ipv6_tcp,
    result_for,
    syn_segment,
)

US4, SERVER4, ROUTER4 = "198.51.100.10", "203.0.113.25", "198.51.100.1"
US6, SERVER6, ROUTER6 = "2001:db8:100::10", "2001:db8:113::25", "2001:db8:100::1"
SEQ = 0x12345678


def packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def test_the_syn_is_what_scapy_would_send() -> None:
    for ours, theirs, ip in ((US4, SERVER4, IP), (US6, SERVER6, IPv6)):
        segment = syn_segment(packed(ours), packed(theirs), 40000, 25, SEQ)
        parsed = TCP(segment)
        assert (parsed.sport, parsed.dport, parsed.seq, str(parsed.flags)) == (40000, 25, SEQ, "S")
        assert ("MSS", 1460) in parsed.options
        rebuilt = ip(src=ours, dst=theirs) / TCP(segment)
        del rebuilt[TCP].chksum  # scapy computes it again over its own pseudo-header
        assert ip(bytes(rebuilt))[TCP].chksum == parsed.chksum


def test_checksum_of_a_known_buffer() -> None:
    # RFC 1071's example: 0001 f203 f4f5 f6f7 sums to 0xddf2, complemented 0x220d.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert checksum(b"\x01") == ~0x0100 & 0xFFFF  # odd length: padded with a zero byte


def test_a_syn_ack_answers_the_probe_by_its_ports_and_sequence() -> None:
    wire = bytes(IP(src=SERVER4, dst=US4, ttl=63, id=4321) / TCP(sport=25, dport=40000, flags="SA", ack=SEQ + 1))
    answer = parse_ipv4(wire)
    assert answer is not None
    assert (answer.kind, answer.probed, answer.probed_port, answer.our_port) == (Kind.TCP, packed(SERVER4), 25, 40000)
    assert answer.check == SEQ and (answer.ttl, answer.ip_id, answer.sender) == (63, 4321, SERVER4)
    result = result_for("mx", SERVER4, 25, answer, 0.0512, 1, Service.SMTP)
    assert (result.state, result.reason, result.ttl, result.ip_id, result.elapsed_ms) == (
        PortState.OPEN, "syn-ack", 63, 4321, 51.2,
    )  # fmt: skip


def test_a_reset_is_closed_and_keeps_the_ttl_that_tells_a_forged_one() -> None:
    wire = bytes(IP(src=SERVER4, dst=US4, ttl=64) / TCP(sport=25, dport=40000, flags="RA", ack=SEQ + 1))
    answer = parse_ipv4(wire)
    assert answer is not None
    result = result_for("mx", SERVER4, 25, answer, 0.001, 2, None)
    assert (result.state, result.reason, result.ttl, result.attempts) == (PortState.CLOSED, "reset", 64, 2)


def test_an_icmp_error_names_the_probe_it_quotes_and_its_sender() -> None:
    quoted = IPerror(src=US4, dst=SERVER4) / TCPerror(sport=40000, dport=25, seq=SEQ, flags="S")
    wire = bytes(IP(src=ROUTER4, dst=US4, ttl=64) / ICMP(type=3, code=13) / quoted)
    answer = parse_ipv4(wire)
    assert answer is not None
    assert (answer.kind, answer.probed, answer.probed_port, answer.our_port, answer.check) == (
        Kind.ICMP, packed(SERVER4), 25, 40000, SEQ,
    )  # fmt: skip
    result = result_for("mx", SERVER4, 25, answer, 0.002, 1, None)
    assert result.state is PortState.UNREACHABLE
    assert result.reason == "admin-prohibited from 198.51.100.1"
    assert result.icmp is not None and (result.icmp.type, result.icmp.code) == (3, 13)


def test_ipv6_answers_come_without_their_ip_header() -> None:
    segment = bytes(TCP(sport=587, dport=40001, flags="SA", ack=SEQ + 1))
    answer = parse_ipv6_tcp(segment, SERVER6, 63)
    assert answer is not None
    assert (answer.probed, answer.probed_port, answer.our_port, answer.check, answer.ttl) == (
        packed(SERVER6), 587, 40001, SEQ, 63,
    )  # fmt: skip
    quoted = IPv6(src=US6, dst=SERVER6) / TCP(sport=40001, dport=25, seq=SEQ, flags="S")
    message = bytes(ICMPv6DestUnreach(code=1) / quoted)
    error = parse_icmpv6(message, ROUTER6, 64)
    assert error is not None
    assert (error.kind, error.probed, error.probed_port, error.our_port, error.check) == (
        Kind.ICMP, packed(SERVER6), 25, 40001, SEQ,
    )  # fmt: skip
    assert result_for("mx", SERVER6, 25, error, 0.0, 1, None).reason == "admin-prohibited from 2001:db8:100::1"


def test_what_answers_no_syn_is_ignored() -> None:
    data = bytes(IP(src=SERVER4, dst=US4) / TCP(sport=25, dport=40000, flags="PA") / b"220 hello\r\n")
    assert parse_ipv4(data) is None  # a session's data
    assert parse_ipv4(bytes(IP(src=SERVER4, dst=US4) / TCP(flags="S"))) is None  # someone's connection attempt
    assert parse_ipv4(bytes(IP(src=ROUTER4, dst=US4) / ICMP(type=8))) is None  # an echo request
    assert parse_ipv4(b"\x45\x00") is None
