"""Findings from reachability: ports that do not answer, and what the egress verdict means. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from mailprobe.checks.catalogue import FindingKind, define, finding
from mailprobe.model import EgressResult, Finding, PortResult, PortState, Report, Severity

PORT_CLOSED = define(
    "PORT-CLOSED", Severity.INFO, "Port closed",
    "The host answers connections on this port with a reset: nothing listens there. Normal for services the "
    "host does not offer; a problem if clients expect one (a MX must accept port 25).",
    "Start the service or stop publishing it (DNS, client settings); ignore if the service is not offered.",
    "connect 203.0.113.25:110 -> RST (conn-refused)",
)  # fmt: skip
PORT_FILTERED = define(
    "PORT-FILTERED", Severity.LOW, "Port filtered (no answer)",
    "Connection attempts get no answer at all: a firewall drops them. Clients wait for a timeout instead of "
    "failing fast, and a mail server behind it cannot be reached on that port.",
    "Open the port in the firewall if the service should be reachable, or reject instead of dropping.",
    "connect 203.0.113.25:25 -> no answer after 2 attempts (no-response)",
)  # fmt: skip
PORT_UNREACHABLE = define(
    "PORT-UNREACHABLE", Severity.LOW, "Port unreachable (ICMP error)",
    "A router or the host answers connection attempts with an ICMP error (administratively prohibited, host "
    "unreachable, ...): a filter or a routing problem on the way, named by the ICMP sender.",
    "Check the firewall or route at the ICMP sender's address.",
    "connect 203.0.113.25:25 -> ICMP admin-prohibited from 198.51.100.1",
)  # fmt: skip
PORT25_BLOCKED = define(
    "PORT25-BLOCKED", Severity.HIGH, "Outbound port 25 is blocked",
    "Your network does not let connections to port 25 out (dropped, reset or refused by ICMP) while other "
    "ports work: mail cannot be delivered directly from here to other mail servers.",
    "Relay through your provider's submission server (587/465 with authentication) or ask the ISP to lift "
    "the block (often possible for business lines).",
    "port 25: no-response everywhere; ports 587/465/443: open",
)  # fmt: skip
PORT25_INTERCEPTED = define(
    "PORT25-INTERCEPTED", Severity.HIGH, "Outbound port 25 is intercepted",
    "Connections to port 25 are redirected to a server that is not the destination (another greeting, "
    "another certificate): mail sent directly passes through a third party that can read, filter or drop it.",
    "Send mail through an authenticated submission server (587/465) with TLS, or ask the ISP to stop the "
    "redirection.",
    "S: 220 smtp.isp.example ESMTP   (connected to mx1.example.org)",
)  # fmt: skip
EGRESS_ALL_BLOCKED = define(
    "EGRESS-ALL-BLOCKED", Severity.MEDIUM, "No outbound connection works",
    "Neither port 25 nor the control ports connect: there is no usable network here, or a firewall blocks "
    "everything. This says nothing about a port-25 block in particular.",
    "Check the network connection and the local firewall, then run the test again.",
)  # fmt: skip
EGRESS_INCONCLUSIVE = define(
    "EGRESS-INCONCLUSIVE", Severity.INFO, "Outbound port 25 test inconclusive",
    "The results do not allow a verdict (see the reason): the test could not tell a block from a problem "
    "with the destinations.",
    "Run again with other destinations (--target), or with --raw as root for more evidence.",
)  # fmt: skip

MX_PORT25 = define(
    "PORT25-MX-NOT-OPEN", Severity.HIGH, "An MX host does not accept connections on port 25",
    "Other mail servers deliver to the MX hosts on port 25 only; an MX address where 25 is closed, filtered or "
    "unreachable makes senders retry elsewhere or give up.",
    "Open port 25 on the MX host (firewall, listener), or remove the address from the MX host's DNS.",
    "MX 10 mx1.example.org -> 203.0.113.25: port 25 filtered (no-response)",
)  # fmt: skip

_BY_STATE: dict[PortState, FindingKind] = {
    PortState.CLOSED: PORT_CLOSED,
    PortState.FILTERED: PORT_FILTERED,
    PortState.UNREACHABLE: PORT_UNREACHABLE,
}
_BY_VERDICT: dict[str, FindingKind] = {
    "blocked-drop": PORT25_BLOCKED,
    "blocked-reset": PORT25_BLOCKED,
    "blocked-icmp": PORT25_BLOCKED,
    "intercepted": PORT25_INTERCEPTED,
    "all-blocked": EGRESS_ALL_BLOCKED,
    "inconclusive": EGRESS_INCONCLUSIVE,
}


def _target(r: PortResult) -> str:
    return f"{r.host} [{r.address}]" if r.host and r.host != r.address else r.address


def check_ports(results: Sequence[PortResult]) -> list[Finding]:
    """One finding per address and state that is not open, naming its ports and reasons."""
    grouped: dict[tuple[str, PortState], list[PortResult]] = {}
    for r in results:
        if r.state in _BY_STATE:
            grouped.setdefault((_target(r), r.state), []).append(r)
    findings = []
    for (target, state), group in grouped.items():
        kind = _BY_STATE[state]
        ports = ", ".join(str(r.port) for r in group)
        reasons = sorted({r.reason for r in group})
        evidence = f"port{'s' if len(group) > 1 else ''} {ports}: {'; '.join(reasons)}"
        title = f"{kind.title}: {ports}"
        findings.append(finding(kind, target, evidence, title=title))
    return findings


def check_mx_port25(report: Report) -> list[Finding]:
    """Port 25 of every probed MX address must be open (judged only where port 25 was probed)."""
    mx_addresses = {(mx.name, address) for d in report.dns for mx in d.mx for address in mx.addresses}
    return [
        finding(MX_PORT25, _target(r), f"port 25 {r.state.value} ({r.reason})")
        for r in report.ports
        if r.port == 25 and r.state is not PortState.OPEN and (r.host, r.address) in mx_addresses
    ]


def check_egress(e: EgressResult) -> list[Finding]:
    """The egress verdict as a finding (none when port 25 is open)."""
    kind = _BY_VERDICT.get(e.verdict)
    if kind is None:
        return []
    evidence = e.explanation
    if e.evidence:
        evidence += " Evidence: " + " | ".join(e.evidence[:6])
    return [finding(kind, "outbound port 25", evidence, title=f"{kind.title} ({e.verdict})")]
