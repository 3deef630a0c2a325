"""Raw SYN probes (root only), with scapy imported inside the functions that need it.

Each answer is recorded as seen on the wire: SYN-ACK or RST with its TTL and IP ID, or an ICMP error with its
type, code and sender. The TTL is what tells a RST forged by a middlebox from the server's own (compare with
the TTL of the server's SYN-ACK on another port). The receive loop is scapy's sr(), bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from mailprobe.config import Config
from mailprobe.errors import UnsafeTargetError
from mailprobe.model import IcmpInfo, PortResult, PortState, Service
from mailprobe.net import guard
from mailprobe.net.icmp import describe_icmp
from mailprobe.net.limits import RttEstimator

FIRST_ROUND_TIMEOUT = 1.0  # seconds to wait after the last SYN of the first round, at most
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


def syn_scan_sync(
    targets: Sequence[tuple[str, str]],
    ports: Sequence[int],
    ceiling: float,
    service_for: Callable[[int], Service | None] = Service.for_port,
    retries: int = 1,
) -> list[PortResult]:
    """SYN-probe every port of every (host, address); silent probes are retried with a learned timeout."""
    from scapy.config import conf
    from scapy.layers.inet import TCP

    conf.verb = 0
    started = time.monotonic()
    timing = RttEstimator(ceiling)
    results: dict[tuple[str, str, int], PortResult] = {}
    todo = list(dict.fromkeys((host, address, port) for port in ports for host, address in targets))
    for attempt in range(retries + 1):
        if not todo:
            break
        # The first round waits a second at most; later rounds wait what the answers taught us (backed off).
        wait = min(ceiling, FIRST_ROUND_TIMEOUT) if attempt == 0 else timing.timeout("", attempt)
        by_key: dict[tuple[str, int, int], tuple[str, str, int]] = {}
        packets = []
        for item in todo:
            host, address, port = item
            try:
                packet = fixed(syn_packet(address, port))
            except UnsafeTargetError as exc:
                results[item] = PortResult(
                    host, address, port, PortState.ERROR, f"refused by safety guard: {exc}", 0.0, service_for(port)
                )
                continue
            by_key[(str(packet[0].dst), port, int(packet[TCP].sport))] = item
            packets.append(packet)
        for sent, answer, rtt in send_and_receive(packets, wait):
            found = by_key.get((str(sent[0].dst), int(sent[TCP].dport), int(sent[TCP].sport)))
            if found is None or found in results:
                continue
            item = found
            host, address, port = item
            result = classify_answer(host, address, port, answer, rtt, attempt + 1, service_for(port))
            if result.state in (PortState.OPEN, PortState.CLOSED):
                timing.observe("", rtt)
            results[item] = result
        todo = [item for item in todo if item not in results]
    elapsed = round((time.monotonic() - started) * 1000, 1)
    for host, address, port in todo:
        results[(host, address, port)] = PortResult(
            host, address, port, PortState.FILTERED, "no-response", elapsed, service_for(port), attempts=retries + 1
        )
    return list(results.values())


def fixed(packet: Any) -> Any:
    """The packet with its random fields (source port) drawn once, so an answer can be matched to it."""
    return packet.__class__(bytes(packet))


async def syn_scan(targets: Sequence[tuple[str, str]], ports: Sequence[int], cfg: Config) -> list[PortResult]:
    """Raw SYN scan in a worker thread (scapy blocks); results ordered by target then port."""
    results = await asyncio.to_thread(
        syn_scan_sync, list(targets), list(ports), cfg.limits.connect_timeout, cfg.service_for_port
    )
    target_rank = {pair: index for index, pair in reversed(list(enumerate(targets)))}
    port_rank = {port: index for index, port in reversed(list(enumerate(ports)))}
    return sorted(results, key=lambda r: (target_rank.get((r.host, r.address), 0), port_rank.get(r.port, 0)))
