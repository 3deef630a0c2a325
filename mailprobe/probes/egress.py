"""Does my network block outbound port 25? One verdict, its evidence, and what it means in plain words.

Port 25 is compared with control ports (587, 465, 443) on several independent destinations. The verdict is a
pure function of the port results and the port-25 handshakes (`judge_egress`), so every case is testable with
hand-built results; `egress()` only gathers them.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from mailprobe.config import Config
from mailprobe.model import EgressResult, HandshakeResult, PortResult, PortState, Service, Target
from mailprobe.net.raw import hop_distance

SMTP_PORT = 25
HANDSHAKE_CONCURRENCY = 8
# Second-level labels under which registrations happen (example.co.uk): enough for "same organisation".
_SECOND_LEVEL = {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"}


class Verdict(str, Enum):
    OPEN = "open"
    BLOCKED_DROP = "blocked-drop"
    BLOCKED_RESET = "blocked-reset"
    BLOCKED_ICMP = "blocked-icmp"
    INTERCEPTED = "intercepted"
    ALL_BLOCKED = "all-blocked"
    INCONCLUSIVE = "inconclusive"


def exit_code(verdict: str) -> int:
    """0 only when port 25 is open; 1 for a definite problem; 3 when the run could not tell."""
    if verdict == Verdict.OPEN.value:
        return 0
    return 3 if verdict == Verdict.INCONCLUSIVE.value else 1


# --- names: does a greeting or a certificate belong to the destination? ---------------------------------


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def organisation(name: str) -> str:
    """The registered domain, roughly: the last two labels, three under a second-level label (co.uk)."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def greeting_host(banner: str) -> str:
    """The host name a server announces first in its greeting ("220 mx.example.org ESMTP" -> mx.example.org)."""
    words = banner.replace("\\r", " ").replace("\\n", " ").split()
    for word in words[:3]:
        word = word.strip("[]<>(),;")
        if word.isdigit() or word.startswith(("220", "220-")):
            continue
        if "." in word or is_address(word):
            return word.lower().rstrip(".")
    return ""


def belongs(announced: str, destination: str, address: str) -> bool:
    """Whether a greeting host can be the destination's own (same organisation, or its own address)."""
    if not announced:
        return True  # nothing announced: no evidence either way
    if is_address(announced):
        return announced == address
    return organisation(announced) == organisation(destination)


def _banner_host(hs: HandshakeResult) -> str:
    return (hs.fact("greeting_host") or greeting_host(hs.banner)).lower().rstrip(".")


# --- evidence lines --------------------------------------------------------------------------------------


def _where(r: PortResult) -> str:
    name = r.host if r.host and r.host != r.address else ""
    return f"{name} [{r.address}]:{r.port}" if name else f"[{r.address}]:{r.port}"


def port_line(r: PortResult) -> str:
    extra = f", TTL {r.ttl}" if r.ttl is not None else ""
    return f"{_where(r)} {r.state.value} ({r.reason}, {r.elapsed_ms:g} ms{extra})"


def handshake_line(hs: HandshakeResult) -> str:
    t = hs.target
    parts = [f"{t.host} [{t.address}]:{t.port} {hs.status.value}"]
    if hs.banner:
        parts.append(f"greeting {hs.banner[:100]!r}")
    if hs.tls is not None and hs.tls.leaf is not None:
        match = "matches" if hs.tls.hostname_match else "does NOT match"
        parts.append(f"certificate {hs.tls.leaf.subject!r} {match} {hs.tls.hostname}")
    elif hs.reason and not hs.banner:
        parts.append(hs.reason)
    return "; ".join(parts)


# --- interception --------------------------------------------------------------------------------------


def interception_signs(
    open25: Sequence[PortResult], handshakes: Sequence[HandshakeResult], controls: Sequence[PortResult]
) -> tuple[list[str], list[str], set[str]]:
    """(strong signs, weak signs, destinations showing a weak sign) that port 25 reaches someone else.

    Strong: the same greeting host or the same certificate comes back from unrelated destinations.
    Weak (per destination): a greeting host of another organisation, a certificate that does not match,
    or (raw mode) a SYN-ACK on 25 from a different distance than the same address's SYN-ACK on a control port.
    """
    strong: list[str] = []
    weak: list[str] = []
    flagged: set[str] = set()
    by_banner: dict[str, set[str]] = {}
    by_cert: dict[str, set[str]] = {}
    for hs in handshakes:
        t = hs.target
        named = not is_address(t.host)
        announced = _banner_host(hs)
        if announced and named:
            by_banner.setdefault(announced, set()).add(organisation(t.host))
        if named and not belongs(announced, t.host, t.address):
            weak.append(f"{t.host} [{t.address}] greets as {announced!r}, which is not {organisation(t.host)}")
            flagged.add(t.host)
        leaf = hs.tls.leaf if hs.tls is not None else None
        if leaf is not None and named:
            by_cert.setdefault(leaf.fingerprint_sha256, set()).add(organisation(t.host))
            if hs.tls is not None and not hs.tls.hostname_match:
                weak.append(f"{t.host} [{t.address}] presents a certificate for {leaf.subject!r}, not {t.host}")
                flagged.add(t.host)
    for announced, orgs in sorted(by_banner.items()):
        if len(orgs) > 1:
            strong.append(f"unrelated destinations ({', '.join(sorted(orgs))}) all greet as {announced!r}")
    for fingerprint, orgs in sorted(by_cert.items()):
        if len(orgs) > 1:
            strong.append(
                f"unrelated destinations ({', '.join(sorted(orgs))}) present the same certificate {fingerprint[:16]}…"
            )
    for r in open25:
        same_host = [c for c in controls if c.address == r.address and c.state is PortState.OPEN and c.ttl]
        if r.ttl is None or not same_host:
            continue
        control = same_host[0]
        assert control.ttl is not None
        if hop_distance(r.ttl) != hop_distance(control.ttl):
            weak.append(
                f"{_where(r)} answers from {hop_distance(r.ttl)} hops away (TTL {r.ttl}) but port {control.port} "
                f"of the same address from {hop_distance(control.ttl)} (TTL {control.ttl})"
            )
            flagged.add(r.host)
    return strong, weak, flagged


# --- the verdict -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Maker:
    """Builds the EgressResult: the verdict's own evidence first, then every probe line."""

    ports: tuple[PortResult, ...]
    handshakes: tuple[HandshakeResult, ...]
    evidence: tuple[str, ...]

    def __call__(self, verdict: Verdict, explanation: str, extra: Sequence[str] = ()) -> EgressResult:
        return EgressResult(verdict.value, explanation, (*extra, *self.evidence), self.ports, self.handshakes)


def _control_words(controls: Sequence[PortResult]) -> str:
    ports = sorted({r.port for r in controls})
    return "/".join(str(p) for p in ports) or "the control ports"


def judge_egress(
    ports: Sequence[PortResult], handshakes: Sequence[HandshakeResult], raw: bool, *, smtp_port: int = SMTP_PORT
) -> EgressResult:
    """The verdict on outbound port 25 from port results (25 and control ports) and port-25 handshakes."""
    p25 = [r for r in ports if r.port == smtp_port]
    controls = [r for r in ports if r.port != smtp_port]
    evidence = [port_line(r) for r in ports] + [handshake_line(hs) for hs in handshakes]
    result = _Maker(tuple(ports), tuple(handshakes), tuple(evidence))

    usable = [r for r in p25 if r.state is not PortState.ERROR]
    if not usable:
        why = "no port-25 probe was made" if not p25 else "port 25 could not be probed (" + p25[0].reason + ")"
        return result(Verdict.INCONCLUSIVE, f"Cannot tell: {why}.")
    open25 = [r for r in usable if r.state is PortState.OPEN]
    controls_open = [r for r in controls if r.state is PortState.OPEN]
    words = _control_words(controls)

    if open25:
        return _judge_open(open25, handshakes, controls, result)

    if not controls:
        return result(
            Verdict.INCONCLUSIVE,
            "Cannot tell: port 25 does not connect, but no control port was probed to show that the network "
            "itself works.",
        )
    if not controls_open:
        return result(
            Verdict.ALL_BLOCKED,
            f"Nothing gets through, not only port 25: the control ports ({words}) fail too. This looks like no "
            "network access, or a firewall that blocks everything; it is not evidence of a port-25 block.",
        )
    icmp = [r for r in usable if r.state is PortState.UNREACHABLE]
    resets = [r for r in usable if r.state is PortState.CLOSED]
    if icmp:
        senders = sorted({r.icmp.sender for r in icmp if r.icmp is not None} or {"a device on the way"})
        kinds = sorted({r.icmp.description for r in icmp if r.icmp is not None} or {"unreachable"})
        return result(
            Verdict.BLOCKED_ICMP,
            f"Outbound port 25 is blocked: {', '.join(senders)} {'answers' if len(senders) == 1 else 'answer'} it "
            f"with ICMP {', '.join(kinds)}, while "
            f"the same destinations accept connections on {words}. The block sits at {', '.join(senders)}; "
            "send mail through your provider's submission server (587 or 465 with authentication) or ask them "
            "to lift it.",
            [
                f"ICMP {r.icmp.description} (type {r.icmp.type}, code {r.icmp.code}) from {r.icmp.sender} "
                f"for {_where(r)}"
                for r in icmp
                if r.icmp is not None
            ],
        )
    if resets:
        return _judge_reset(resets, controls, raw, words, result)
    return result(
        Verdict.BLOCKED_DROP,
        f"Outbound port 25 is blocked: every connection to it went unanswered, while the same destinations "
        f"accept connections on {words}. Something on the way (usually the ISP) silently drops port 25, a "
        "common anti-spam policy. Send mail through your provider's submission server (587 or 465 with "
        "authentication), or ask the ISP to lift the block.",
    )


def _judge_open(
    open25: Sequence[PortResult],
    handshakes: Sequence[HandshakeResult],
    controls: Sequence[PortResult],
    result: _Maker,
) -> EgressResult:
    strong, weak, flagged = interception_signs(open25, handshakes, controls)
    destinations = {r.host for r in open25}
    if strong or (flagged and flagged >= destinations):
        return result(
            Verdict.INTERCEPTED,
            "Port 25 connects, but not to the servers you asked for: something on the way (usually the ISP) "
            "redirects outbound SMTP to its own server. Mail sent directly passes through it, where it can be "
            "read, filtered or dropped; use your provider's submission server (587/465) instead.",
            [*strong, *weak],
        )
    greeted = [hs for hs in handshakes if hs.banner]
    if handshakes and not greeted:
        return result(
            Verdict.INCONCLUSIVE,
            "Cannot tell: port 25 accepts connections, but no server greeted us, so whether they reach the real "
            "servers is unknown (something may accept and then drop the connection).",
        )
    checked = "their greetings and certificates match their names" if greeted else "greetings were not checked"
    names = ", ".join(sorted(destinations))
    return result(
        Verdict.OPEN,
        f"Outbound port 25 works: connections reached {names} ({checked}).",
        weak,
    )


def _judge_reset(
    resets: Sequence[PortResult], controls: Sequence[PortResult], raw: bool, words: str, result: _Maker
) -> EgressResult:
    if not raw:
        return result(
            Verdict.BLOCKED_RESET,
            f"Outbound port 25 is refused with a TCP reset, while the same destinations accept connections on "
            f"{words}. A real mail server does not refuse port 25, so something on the way (usually the ISP) "
            "most likely resets it. Run with --raw (as root) to see from the reset's TTL who sent it.",
        )
    forged: list[str] = []
    genuine: list[str] = []
    for r in resets:
        same = [c for c in controls if c.address == r.address and c.state is PortState.OPEN and c.ttl]
        if r.ttl is None or not same:
            continue
        control = same[0]
        assert control.ttl is not None
        near, far = hop_distance(r.ttl), hop_distance(control.ttl)
        line = (
            f"{_where(r)}: RST with TTL {r.ttl} ({near} hops away); SYN-ACK on port {control.port} with TTL "
            f"{control.ttl} ({far} hops away)"
        )
        (forged if near != far else genuine).append(line)
    if forged:
        return result(
            Verdict.BLOCKED_RESET,
            f"Outbound port 25 is blocked with forged TCP resets: the reset comes from a device closer than the "
            f"server (its TTL differs from the server's own SYN-ACK on {words}). The ISP or a firewall on the "
            "way refuses port 25; use your provider's submission server (587/465) or ask them to lift it.",
            forged,
        )
    if genuine:
        return result(
            Verdict.INCONCLUSIVE,
            "Cannot tell an ISP block: the destinations themselves refuse port 25 (the reset comes from as far "
            "away as their SYN-ACK on the control ports). Try destinations that do accept mail on port 25.",
            genuine,
        )
    return result(
        Verdict.BLOCKED_RESET,
        f"Outbound port 25 is refused with a TCP reset, while the same destinations accept connections on "
        f"{words}; no SYN-ACK from the same address was seen to compare TTLs, so who sent the reset is unknown.",
    )


# --- gathering -------------------------------------------------------------------------------------------


async def resolve_target(name: str, cfg: Config) -> tuple[list[str], str]:
    """Addresses of a target (an address stands for itself); an error text instead when there are none."""
    if is_address(name):
        return [name], ""
    from mailprobe.dns.client import DnsClient

    client = DnsClient.from_config(cfg)
    kinds = [k for k, wanted in (("A", cfg.ipv4), ("AAAA", cfg.ipv6)) if wanted]
    answers = await asyncio.gather(*(client.query(name, kind) for kind in kinds))
    addresses = [str(rdata.address) for answer in answers for rdata in answer.records]  # type: ignore[attr-defined]
    if addresses:
        return addresses, ""
    reasons = "; ".join(f"{a.rdtype} {a.outcome.value}{f': {a.reason}' if a.reason else ''}" for a in answers)
    return [], f"{name}: does not resolve ({reasons})"


async def egress(
    cfg: Config,
    targets: Sequence[str],
    control_ports: Sequence[int],
    raw: bool,
    *,
    smtp_port: int = SMTP_PORT,
) -> EgressResult:
    """Probe port 25 and the control ports on every target, greet port 25 where it opens, and judge."""
    from mailprobe.probes.ports import scan_all

    notes: list[str] = []
    resolved = await asyncio.gather(*(resolve_target(name, cfg) for name in targets))
    pairs: list[tuple[str, str]] = []
    for name, (addresses, error) in zip(targets, resolved, strict=True):
        if error:
            notes.append(error)
        pairs.extend((name, address) for address in addresses)
    all_ports = [smtp_port, *(p for p in control_ports if p != smtp_port)]
    if raw:
        from mailprobe.net.raw import raw_unavailable_reason, syn_scan

        why_not = raw_unavailable_reason()
        if why_not is not None:
            notes.append(f"raw mode unavailable ({why_not}); connect mode used")
            raw = False
    if raw:
        ports = await syn_scan(pairs, all_ports, cfg)
    else:
        ports = await scan_all(pairs, all_ports, cfg)
    open25 = [r for r in ports if r.port == smtp_port and r.state is PortState.OPEN]
    handshakes = await _greet(open25, cfg)
    verdict = judge_egress(ports, handshakes, raw, smtp_port=smtp_port)
    if not pairs:
        return EgressResult(
            Verdict.INCONCLUSIVE.value, "Cannot tell: no target could be resolved to an address.", tuple(notes)
        )
    return EgressResult(
        verdict.verdict, verdict.explanation, (*notes, *verdict.evidence), verdict.ports, verdict.handshakes
    )


async def _greet(open25: Sequence[PortResult], cfg: Config) -> list[HandshakeResult]:
    """SMTP greeting and STARTTLS on every open port 25 (the handshake probe; at most a few at a time)."""
    if not open25:
        return []
    from mailprobe.probes.registry import handshake

    limit = asyncio.Semaphore(HANDSHAKE_CONCURRENCY)

    async def one(r: PortResult) -> HandshakeResult:
        async with limit:
            return await handshake(Target(r.host, r.address, r.port, Service.SMTP, "user"), cfg)

    return list(await asyncio.gather(*(one(r) for r in open25)))
