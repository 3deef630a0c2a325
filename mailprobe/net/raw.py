"""Raw probes (root only): whether raw mode is possible, TTL arithmetic, and scapy's SYNs for the traceroute.

Each answer is recorded as seen on the wire: SYN-ACK or RST with its TTL and IP ID, or an ICMP error with its
type, code and sender. The TTL is what tells a RST forged by a middlebox from the server's own (compare with
the TTL of the server's SYN-ACK on another port). Port scans in raw mode go through net/synscan.py (one
socket, paced, no scapy); the traceroute (net/trace.py) sends with scapy, imported inside the functions.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from mailprobe.model import IcmpInfo, PortResult, PortState, Service
from mailprobe.net import guard
from mailprobe.net.icmp import describe_icmp

SYN_ACK = 0x12
RST = 0x04


def raw_unavailable_reason() -> str | None:
    """None when this process may send raw packets; otherwise a sentence saying why not."""
    try:
        probe = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except PermissionError:
        return f"raw probes need root (or CAP_NET_RAW); this process runs as uid {os.geteuid()}"
    except OSError as exc:
        return f"raw sockets are unavailable: {exc.strerror or exc}"
    probe.close()
    return None


def classify_answer(
    host: str, address: str, port: int, answer: Any, rtt: float, tries: int, service: Service | None
) -> PortResult:
    """The PortResult a scapy answer packet means (IP or IPv6, TCP or ICMP error)."""
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import IPv6

    ms = round(rtt * 1000, 1)
    if answer.haslayer(IP):
        ip = answer[IP]
        ttl, ip_id = int(ip.ttl), int(ip.id)
    else:
        ip = answer[IPv6]
        ttl, ip_id = int(ip.hlim), None
    sender = str(ip.src)

    def make(state: PortState, reason: str, icmp: IcmpInfo | None = None) -> PortResult:
        return PortResult(host, address, port, state, reason, ms, service, icmp, ttl, ip_id, tries)

    if answer.haslayer(ICMP) or _icmp6_error(answer) is not None:
        if answer.haslayer(ICMP):
            icmp_type, code, version = int(answer[ICMP].type), int(answer[ICMP].code), 4
        else:
            icmp_type, code = _icmp6_error(answer) or (0, 0)
            version = 6
        info = IcmpInfo(icmp_type, code, sender, describe_icmp(version, icmp_type, code))
        return make(PortState.UNREACHABLE, f"{info.description} from {sender}", info)
    if answer.haslayer(TCP):
        flags = int(answer[TCP].flags)
        if flags & SYN_ACK == SYN_ACK:
            return make(PortState.OPEN, "syn-ack")
        if flags & RST:
            return make(PortState.CLOSED, "reset")
    return make(PortState.ERROR, f"unexpected answer: {answer.summary()}")


def _icmp6_error(answer: Any) -> tuple[int, int] | None:
    from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6ParamProblem, ICMPv6TimeExceeded

    for layer in (ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem):
        if answer.haslayer(layer):
            return int(answer[layer].type), int(answer[layer].code)
    return None


def syn_packet(address: str, port: int, ttl: int = 64) -> Any:
    """One SYN to address:port; the guard is asked first."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.volatile import RandShort

    guard.check(address)
    ip: Any = IPv6(dst=address, hlim=ttl) if ":" in address else IP(dst=address, ttl=ttl)
    return ip / TCP(sport=RandShort(), dport=port, flags="S", window=1024, options=[("MSS", 1460)])


def send_and_receive(packets: Sequence[Any], timeout: float) -> list[tuple[Any, Any, float]]:
    """Send every packet; return (sent, answer, rtt) pairs. Waits `timeout` after the last send, no more."""
    from scapy.sendrecv import sr

    answered: list[tuple[Any, Any, float]] = []
    for family_packets in _by_family(packets):
        if not family_packets:
            continue
        ans, _unans = sr(family_packets, timeout=max(timeout, 0.01), retry=0, verbose=0)
        for sent, received in ans:
            answered.append((sent, received, max(0.0, float(received.time) - float(sent.sent_time or 0.0))))
    return answered


def _by_family(packets: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    from scapy.layers.inet import IP

    v4 = [p for p in packets if p.haslayer(IP)]
    v6 = [p for p in packets if not p.haslayer(IP)]
    return v4, v6


def fixed(packet: Any) -> Any:
    """The packet with its random fields (source port) drawn once, so an answer can be matched to it."""
    return packet.__class__(bytes(packet))
