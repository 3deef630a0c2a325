"""SYN segments out, answers in: the bytes of raw mode, as pure functions (no sockets, no scapy).

Out: a TCP SYN with an MSS option and its checksum over the IPv4 or IPv6 pseudo-header; the kernel adds the
IP header (a raw IPPROTO_TCP socket without IP_HDRINCL). In: what the raw sockets deliver, decoded into an
`Answer` keyed by the probe it answers (probed address, probed port, our source port) and a check value
(the probe's sequence number, from the ACK of a SYN-ACK/RST or from the segment an ICMP error quotes):
    IPv4 TCP and ICMP sockets deliver the IP header too (TTL, IP ID, sender);
    IPv6 sockets deliver only the payload; the sender and hop limit come from recvmsg.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from enum import Enum

from mailprobe.model import IcmpInfo, PortResult, PortState, Service
from mailprobe.net.icmp import describe_icmp

SYN, RST, ACK = 0x02, 0x04, 0x10
SYN_ACK = SYN | ACK
TCP = 6
_TCP_HEADER = struct.Struct("!HHIIBBHHH")  # ports, seq, ack, offset, flags, window, checksum, urgent
_ICMP4_ERRORS = {3, 4, 11, 12}  # unreachable, source quench, time exceeded, parameter problem
_ICMP6_ERRORS = {1, 2, 3, 4}  # unreachable, packet too big, time exceeded, parameter problem


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_segment(source: bytes, destination: bytes, sport: int, dport: int, seq: int, window: int = 1024) -> bytes:
    """A SYN (with MSS 1460, as nmap sends) from packed `source` to packed `destination` (4 or 16 bytes)."""
    header = _TCP_HEADER.pack(sport, dport, seq, 0, 6 << 4, SYN, window, 0, 0) + struct.pack("!BBH", 2, 4, 1460)
    if len(destination) == 4:
        pseudo = source + destination + struct.pack("!BBH", 0, TCP, len(header))
    else:
        pseudo = source + destination + struct.pack("!I3xB", len(header), TCP)
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


class Kind(str, Enum):
    TCP = "tcp"
    ICMP = "icmp"


@dataclass(frozen=True, slots=True)
class Answer:
    """One received packet that may answer a probe."""

    kind: Kind
    probed: bytes  # the address the probe went to (packed)
    probed_port: int
    our_port: int
    check: int  # the probe's sequence number as the answer reflects it; -1 for a RST without ACK
    sender: str  # the IP source of the answer (the server, or a router for ICMP and forged resets)
    ttl: int | None
    ip_id: int | None
    version: int
    flags: int = 0
    icmp_type: int = 0
    icmp_code: int = 0


def _tcp_answer(
    segment: bytes, probed: bytes, sender: str, ttl: int | None, ip_id: int | None, version: int
) -> Answer | None:
    if len(segment) < 20:
        return None
    sport, dport, _seq, ack, _offset, flags, _window, _sum, _urg = _TCP_HEADER.unpack_from(segment)
    if flags & SYN_ACK != SYN_ACK and not flags & RST:
        return None  # not an answer to a SYN (data, a FIN, someone else's SYN)
    check = (ack - 1) & 0xFFFFFFFF if flags & ACK else -1
    return Answer(Kind.TCP, probed, sport, dport, check, sender, ttl, ip_id, version, flags)


def _quoted_tcp(quoted: bytes) -> tuple[int, int, int] | None:
    """(our port, probed port, our seq) from the first 8 bytes of a quoted TCP header."""
    if len(quoted) < 8:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", quoted)
    return sport, dport, seq


def parse_ipv4(packet: bytes) -> Answer | None:
    """A packet from a raw IPv4 socket (TCP or ICMP), IP header included."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    ip_id, ttl, proto = struct.unpack_from("!H", packet, 4)[0], packet[8], packet[9]
    sender = str(ipaddress.IPv4Address(packet[12:16]))
    if proto == TCP:
        return _tcp_answer(packet[ihl:], packet[12:16], sender, ttl, ip_id, 4)
    if proto != 1 or len(packet) < ihl + 8 + 20:
        return None
    icmp_type, icmp_code = packet[ihl], packet[ihl + 1]
    if icmp_type not in _ICMP4_ERRORS:
        return None
    inner = packet[ihl + 8 :]
    if inner[0] >> 4 != 4 or inner[9] != TCP:
        return None
    quoted = _quoted_tcp(inner[(inner[0] & 0x0F) * 4 :])
    if quoted is None:
        return None
    our_port, probed_port, seq = quoted
    return Answer(Kind.ICMP, inner[16:20], probed_port, our_port, seq, sender, ttl, ip_id, 4, 0, icmp_type, icmp_code)


def parse_ipv6_tcp(segment: bytes, sender: str, hop_limit: int | None) -> Answer | None:
    """A TCP segment from a raw IPv6 socket (no IP header: the sender comes from recvmsg)."""
    try:
        probed = ipaddress.IPv6Address(sender.split("%", 1)[0]).packed
    except ValueError:
        return None
    return _tcp_answer(segment, probed, sender, hop_limit, None, 6)


def parse_icmpv6(message: bytes, sender: str, hop_limit: int | None) -> Answer | None:
    """An ICMPv6 error from a raw ICMPv6 socket: the quoted IPv6 header names the probe."""
    if len(message) < 8 + 40 + 8 or message[0] not in _ICMP6_ERRORS:
        return None
    inner = message[8:]
    if inner[0] >> 4 != 6 or inner[6] != TCP:  # extension headers in the quote: not one of our SYNs
        return None
    quoted = _quoted_tcp(inner[40:])
    if quoted is None:
        return None
    our_port, probed_port, seq = quoted
    kind, code = message[0], message[1]
    return Answer(Kind.ICMP, inner[24:40], probed_port, our_port, seq, sender, hop_limit, None, 6, 0, kind, code)


def result_for(
    host: str, address: str, port: int, answer: Answer, elapsed: float, tries: int, service: Service | None
) -> PortResult:
    """The PortResult an answer means: SYN-ACK open, RST closed, an ICMP error unreachable (with its sender)."""
    ms = round(elapsed * 1000, 1)

    def make(state: PortState, reason: str, icmp: IcmpInfo | None = None) -> PortResult:
        return PortResult(host, address, port, state, reason, ms, service, icmp, answer.ttl, answer.ip_id, tries)

    if answer.kind is Kind.ICMP:
        words = describe_icmp(answer.version, answer.icmp_type, answer.icmp_code)
        info = IcmpInfo(answer.icmp_type, answer.icmp_code, answer.sender, words)
        return make(PortState.UNREACHABLE, f"{words} from {answer.sender}", info)
    if answer.flags & SYN_ACK == SYN_ACK:
        return make(PortState.OPEN, "syn-ack")
    if answer.flags & RST:
        return make(PortState.CLOSED, "reset")
    return make(PortState.ERROR, f"unexpected TCP flags {answer.flags:#04x} from {answer.sender}")
