"""TCP traceroute to a port and a control port side by side: where do the two paths part? (root only)

SYNs with TTL 1..max_hops go to the port under test (25) and to a control port (443) at once. Each hop's
answer is a time-exceeded from a router, or the end of the path: SYN-ACK, RST or an ICMP unreachable. The
hop where the two ports stop getting the same answer is where something treats port 25 differently.
scapy is imported only inside the functions that send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailprobe.net.raw import classify_answer, fixed, send_and_receive, syn_packet
from mailprobe.protocols.ttl import hop_distance

MAX_HOPS = 30
ROUNDS = 3  # unanswered TTLs are asked again: routers rate-limit time-exceeded messages

TIME_EXCEEDED = "time-exceeded"
NO_ANSWER = "no-response"


@dataclass(frozen=True, slots=True)
class HopAnswer:
    """What one TTL-limited SYN brought back."""

    kind: str  # "time-exceeded", "syn-ack", "reset", an ICMP word ("admin-prohibited"), or "no-response"
    responder: str = ""
    ttl: int | None = None  # TTL of the answer as received
    rtt_ms: float | None = None

    @property
    def final(self) -> bool:
        """The probe reached something that ended the path (the host, or a device that refused it)."""
        return self.kind not in (TIME_EXCEEDED, NO_ANSWER)

    def describe(self) -> str:
        if self.kind == NO_ANSWER:
            return "no answer"
        words = {"syn-ack": "SYN-ACK", "reset": "RST"}.get(self.kind, self.kind)
        ttl = f" (TTL {self.ttl})" if self.ttl is not None and self.final else ""
        return f"{words} from {self.responder}{ttl}"

    def same_as(self, other: HopAnswer) -> bool:
        return self.kind == other.kind and self.responder == other.responder


@dataclass(frozen=True, slots=True)
class Hop:
    ttl: int
    probe: HopAnswer  # the port under test
    control: HopAnswer  # the control port


@dataclass(frozen=True, slots=True)
class TraceResult:
    host: str
    address: str
    port: int
    control_port: int
    hops: tuple[Hop, ...]
    diverged_at: int | None  # first TTL where the two ports got different answers; None if never
    summary: str


def answer_from_packet(answer: Any, rtt: float) -> HopAnswer:
    """A HopAnswer from a scapy answer packet (ICMP time-exceeded, TCP, or ICMP unreachable)."""
    from scapy.layers.inet import ICMP
    from scapy.layers.inet6 import ICMPv6TimeExceeded

    ms = round(rtt * 1000, 1)
    if (answer.haslayer(ICMP) and int(answer[ICMP].type) == 11) or answer.haslayer(ICMPv6TimeExceeded):
        ttl = int(answer[0].ttl) if hasattr(answer[0], "ttl") else int(answer[0].hlim)
        return HopAnswer(TIME_EXCEEDED, str(answer[0].src), ttl, ms)
    result = classify_answer("", "", 0, answer, rtt, 1, None)
    kind = result.icmp.description if result.icmp is not None else result.reason
    return HopAnswer(kind, str(answer[0].src), result.ttl, ms)


def trim(hops: Sequence[Hop]) -> tuple[Hop, ...]:
    """Hops up to where both paths have ended (or up to one past the last answer when one never ends)."""
    end_probe = next((h.ttl for h in hops if h.probe.final), None)
    end_control = next((h.ttl for h in hops if h.control.final), None)
    if end_probe is not None and end_control is not None:
        last = max(end_probe, end_control)
    else:
        answered = [h.ttl for h in hops if h.probe.kind != NO_ANSWER and (end_probe is None or h.ttl <= end_probe)]
        answered += [
            h.ttl for h in hops if h.control.kind != NO_ANSWER and (end_control is None or h.ttl <= end_control)
        ]
        last = max(answered, default=0) + 1
    kept = []
    for hop in hops:
        if hop.ttl > last:
            break
        probe = hop.probe if end_probe is None or hop.ttl <= end_probe else HopAnswer(NO_ANSWER)
        control = hop.control if end_control is None or hop.ttl <= end_control else HopAnswer(NO_ANSWER)
        kept.append(Hop(hop.ttl, probe, control))
    return tuple(kept)


def compare_paths(hops: Sequence[Hop], port: int, control_port: int) -> tuple[int | None, str]:
    """The first TTL where the two ports' answers differ, and one sentence saying so."""
    last_common = ""
    for hop in hops:
        if hop.probe.same_as(hop.control):
            if hop.probe.final:
                break  # both reached the same end: nothing after it counts
            if hop.probe.responder:
                last_common = f" ({hop.probe.responder})"
            continue
        agreed = f"the paths agree up to hop {hop.ttl - 1}{last_common}; " if hop.ttl > 1 else ""
        return hop.ttl, (
            f"{agreed}at hop {hop.ttl} port {port} gets {hop.probe.describe()} "
            f"while port {control_port} gets {hop.control.describe()}{_ttl_hint(hop)}"
        )
    return None, f"ports {port} and {control_port} get the same answer at every hop ({len(hops)} hops)"


def _ttl_hint(hop: Hop) -> str:
    """When both ends claim the same sender but from different distances, one of them is forged."""
    a, b = hop.probe, hop.control
    if not (a.final and b.final and a.responder == b.responder and a.ttl is not None and b.ttl is not None):
        return ""
    near, far = hop_distance(a.ttl), hop_distance(b.ttl)
    if near == far:
        return ""
    return (
        f"; the same address answers from {near} hops away on one port and {far} on the other, "
        "so a device on the way answered in its name"
    )


def trace_sync(
    address: str, port: int, control_port: int, *, host: str = "", max_hops: int = MAX_HOPS, timeout: float = 2.0
) -> TraceResult:
    """Send the TTL-limited SYNs (all at once, unanswered ones again), wait at most `timeout` per round."""
    from scapy.config import conf
    from scapy.layers.inet import TCP

    conf.verb = 0
    answers: dict[tuple[int, int], HopAnswer] = {}
    wanted = [(ttl, p) for ttl in range(1, max_hops + 1) for p in (port, control_port)]
    for _round in range(ROUNDS):
        todo = [key for key in wanted if key not in answers]
        if not todo:
            break
        by_sport: dict[tuple[int, int], tuple[int, int]] = {}
        packets = []
        for ttl, p in todo:
            packet = fixed(syn_packet(address, p, ttl=ttl))
            by_sport[(p, int(packet[TCP].sport))] = (ttl, p)
            packets.append(packet)
        for sent, answer, rtt in send_and_receive(packets, timeout):
            key = by_sport.get((int(sent[TCP].dport), int(sent[TCP].sport)))
            if key is not None and key not in answers:
                answers[key] = answer_from_packet(answer, rtt)
        if _paths_complete(answers, port, control_port, max_hops):
            break
    hops = trim(
        [
            Hop(
                ttl,
                answers.get((ttl, port), HopAnswer(NO_ANSWER)),
                answers.get((ttl, control_port), HopAnswer(NO_ANSWER)),
            )
            for ttl in range(1, max_hops + 1)
        ]
    )
    diverged, summary = compare_paths(hops, port, control_port)
    return TraceResult(host or address, address, port, control_port, hops, diverged, summary)


def _paths_complete(answers: dict[tuple[int, int], HopAnswer], port: int, control: int, max_hops: int) -> bool:
    """Every TTL up to each path's end has an answer: another round would learn nothing."""
    for p in (port, control):
        end = next((t for t in range(1, max_hops + 1) if (t, p) in answers and answers[(t, p)].final), None)
        if end is None or any((t, p) not in answers for t in range(1, end)):
            return False
    return True


async def trace(
    address: str, port: int, control_port: int, *, host: str = "", max_hops: int = MAX_HOPS, timeout: float = 2.0
) -> TraceResult:
    """trace_sync in a worker thread (scapy blocks)."""
    return await asyncio.to_thread(
        trace_sync, address, port, control_port, host=host, max_hops=max_hops, timeout=timeout
    )
