"""Does this network block or intercept outbound port 25? The verdict, from positive evidence only. Pure.

Port 25 is compared with control ports (587, 465, 443) on several destinations, and port 25's answers with
what the same addresses say on 587/465. A verdict of `intercepted` needs positive evidence, named in it:
  (a) unrelated destinations answer port 25 with one identity (greeting host or certificate) that belongs to
      none of them;
  (b) port 25 of an address is another server than the same address on 587/465 (greeting host of another
      organisation);
  (c) port 25 answers from nearer than the same address's control ports (TTL in raw mode, else the connect
      round trip);
  (d) middlebox signatures: a greeting masked with asterisks, STARTTLS replaced by XXXXXXXA, or STARTTLS
      missing on 25 at every destination whose own 587/465 offers TLS (more than one, or a destination known
      to offer STARTTLS on 25).
Signs that are common on healthy systems (a greeting naming another organisation, a certificate for another
name, one server without STARTTLS) are notes under the verdict, never the verdict. Every sentence of the
explanation is built from what was measured: a port is named as working only if it was seen working.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from mailprobe.checks.catalogue import FindingKind, finding
from mailprobe.checks.defs import egress as e
from mailprobe.checks.egress_evidence import (
    Observed,
    handshake_line,
    identity_differs,
    nearer,
    port_line,
    shared_identity,
    signatures,
    stripped,
    where,
)
from mailprobe.checks.egress_evidence import notes as egress_notes
from mailprobe.checks.framework import Check
from mailprobe.model import (
    Category,
    ConnectTime,
    EgressResult,
    EgressSign,
    EgressSignKind,
    EgressVerdict,
    Finding,
    HandshakeResult,
    PortResult,
    PortState,
    Report,
)
from mailprobe.protocols.ttl import hop_distance

SMTP_PORT = 25
SUBMISSION_PORTS = (587, 465)
IMPLICIT_TLS_PORT = 465


def exit_code(verdict: EgressVerdict) -> int:
    """0 only when port 25 is open; 1 for a definite problem; 3 when the run could not tell."""
    if verdict is EgressVerdict.OPEN:
        return 0
    return 3 if verdict is EgressVerdict.INCONCLUSIVE else 1


# --- the verdict -----------------------------------------------------------------------------------------


def _ports_text(ports: Sequence[int]) -> str:
    ordered = sorted(set(ports))
    if len(ordered) <= 1:
        return f"port {ordered[0]}" if ordered else "no port"
    return "ports " + ", ".join(str(p) for p in ordered[:-1]) + f" and {ordered[-1]}"


def _advice(controls: Sequence[PortResult]) -> str:
    """What to do instead, naming only submission ports seen working."""
    working = sorted({c.port for c in controls if c.state is PortState.OPEN and c.port in SUBMISSION_PORTS})
    if working:
        return (
            f"Send mail through your provider's submission server ({_ports_text(working)} worked from here, with "
            "authentication), or ask the provider to lift the block."
        )
    tried = sorted({c.port for c in controls if c.port in SUBMISSION_PORTS})
    if tried:
        return (
            f"The submission {_ports_text(tried)} did not connect either, so relaying through a submission server "
            "will not work from this network: use your provider's webmail, another network, or ask the provider "
            "to lift the block."
        )
    return "Ask the provider to lift the block, or relay through a submission server (not tested here)."


def judge_egress(
    ports: Sequence[PortResult],
    handshakes: Sequence[HandshakeResult],
    *,
    control_handshakes: Sequence[HandshakeResult] = (),
    reverse: Sequence[tuple[str, str]] = (),
    starttls_known: Sequence[str] = (),
    raw: bool = False,
    smtp_port: int = SMTP_PORT,
    connect_times: Sequence[ConnectTime] = (),
) -> EgressResult:
    """The verdict on outbound port 25 from port results (25 and control ports), port-25 handshakes and the
    same addresses' 587/465 handshakes."""
    measured = [r for r in ports if r.state is not PortState.BLOCKED]  # the guard refused: nothing was sent
    p25 = [r for r in measured if r.port == smtp_port]
    controls = [r for r in measured if r.port != smtp_port and r.state is not PortState.ERROR]
    evidence = tuple(
        [port_line(r) for r in ports]
        + [handshake_line(h) for h in handshakes]
        + [handshake_line(h) for h in control_handshakes]
    )

    def result(
        verdict: EgressVerdict,
        explanation: str,
        signs: Sequence[EgressSign] = (),
        notes: Sequence[str] = (),
        basis: Sequence[str] = (),
    ) -> EgressResult:
        return EgressResult(
            verdict=verdict,
            explanation=explanation,
            evidence=evidence,
            ports=tuple(ports),
            handshakes=tuple(handshakes),
            signs=tuple(signs),
            notes=tuple(notes),
            control_handshakes=tuple(control_handshakes),
            reverse=tuple(reverse),
            starttls_known=tuple(starttls_known),
            raw=raw,
            basis=tuple(basis) or tuple(sign.text for sign in signs),
            connect_times=tuple(connect_times),
        )

    usable = [r for r in p25 if r.state is not PortState.ERROR]
    if not usable:
        why = "no port-25 probe was made" if not p25 else f"port 25 could not be probed ({p25[0].reason})"
        return result(EgressVerdict.INCONCLUSIVE, f"Cannot tell: {why}.")
    open25 = [r for r in usable if r.state is PortState.OPEN]
    if open25:
        observed = Observed(
            tuple(open25),
            tuple(controls),
            tuple(h for h in handshakes if h.greeting_code),
            tuple(control_handshakes),
            dict(reverse),
            frozenset(starttls_known),
            {(t.address, t.port): t.best_ms for t in connect_times},
        )
        return _judge_open(observed, handshakes, result)
    return _judge_blocked(usable, controls, raw, result)


def _judge_open(o: Observed, handshakes: Sequence[HandshakeResult], result: _Result) -> EgressResult:
    signs = [*shared_identity(o), *identity_differs(o), *nearer(o), *signatures(o)]
    strip = stripped(o)
    if strip is not None:
        signs.append(strip)
    notes = list(dict.fromkeys(egress_notes(o, signs)))
    destinations = ", ".join(sorted({r.host for r in o.open25}))
    if signs:
        return result(
            EgressVerdict.INTERCEPTED,
            f"Port 25 connects, but something on the way answers or rewrites it: "
            f"{'this evidence shows' if len(signs) == 1 else f'{len(signs)} pieces of evidence show'} port 25 "
            f"reaching another party than {destinations}. Mail sent directly from here passes through it, where it "
            "can be read, filtered or dropped. " + _advice(o.controls),
            signs,
            notes,
        )
    if handshakes and not o.greeted:
        return result(
            EgressVerdict.INCONCLUSIVE,
            "Cannot tell: port 25 accepts connections, but no server greeted, so whether they reach the real "
            "servers is unknown (something may accept and then drop the connection).",
            notes=notes,
        )
    checked = (
        f"{len(o.greeted)} greeted as SMTP servers and none of the interception checks found anything"
        if o.greeted
        else "greetings were not checked"
    )
    return result(EgressVerdict.OPEN, f"Outbound port 25 works: connections reached {destinations} ({checked}).",
                  notes=notes)  # fmt: skip


def _judge_blocked(
    usable: Sequence[PortResult], controls: Sequence[PortResult], raw: bool, result: _Result
) -> EgressResult:
    controls_open = [r for r in controls if r.state is PortState.OPEN]
    if not controls:
        return result(
            EgressVerdict.INCONCLUSIVE,
            "Cannot tell: port 25 does not connect, but no control port was probed to show that the network "
            "itself works.",
        )
    if not controls_open:
        return result(
            EgressVerdict.ALL_BLOCKED,
            f"Nothing gets through, not only port 25: the control {_ports_text([c.port for c in controls])} "
            "did not connect either. This looks like no network access, or a firewall that blocks everything; "
            "it is not evidence of a port-25 block.",
        )
    answered = _ports_text([c.port for c in controls_open])
    failed_mail = sorted({c.port for c in controls if c.port in SUBMISSION_PORTS and c.state is not PortState.OPEN})
    scope = (
        f"Mail ports are blocked, not only 25: port 25 and the submission {_ports_text(failed_mail)} fail while "
        f"{answered} of the same destinations answer{'s' if len(controls_open) == 1 else ''}."
        if failed_mail and not any(c.port in SUBMISSION_PORTS for c in controls_open)
        else f"Outbound port 25 is blocked, while {answered} of the same destinations answer"
        f"{'s' if len({c.port for c in controls_open}) == 1 else ''}."
    )
    icmp = [r for r in usable if r.state is PortState.UNREACHABLE]
    resets = [r for r in usable if r.state is PortState.CLOSED]
    if icmp:
        senders = sorted({r.icmp.sender for r in icmp if r.icmp is not None} or {"a device on the way"})
        kinds = sorted({r.icmp.description for r in icmp if r.icmp is not None} or {"unreachable"})
        lines = [
            f"ICMP {r.icmp.description} (type {r.icmp.type}, code {r.icmp.code}) from {r.icmp.sender} for {where(r)}"
            for r in icmp
            if r.icmp is not None
        ]
        return result(
            EgressVerdict.BLOCKED_ICMP,
            f"{scope} Port 25 is refused with ICMP {', '.join(kinds)} from {', '.join(senders)}, where the block "
            f"sits. {_advice(controls)}",
            basis=lines,
        )
    if resets:
        drops = [r for r in usable if r.state is PortState.FILTERED]
        return _judge_reset(resets, drops, controls, raw, scope, result)
    return result(
        EgressVerdict.BLOCKED_DROP,
        f"{scope} Every connection to port 25 went unanswered: something on the way (usually the provider) "
        f"silently drops it, a common anti-spam policy. {_advice(controls)}",
    )


def _judge_reset(
    resets: Sequence[PortResult],
    drops: Sequence[PortResult],
    controls: Sequence[PortResult],
    raw: bool,
    scope: str,
    result: _Result,
) -> EgressResult:
    if not raw:
        return result(
            EgressVerdict.BLOCKED_RESET,
            f"{scope} Port 25 is refused with a TCP reset. A real mail server does not refuse port 25, so something "
            f"on the way most likely resets it; run with --raw (as root) to see from the reset's TTL who sent it. "
            f"{_advice(controls)}",
        )
    forged: list[str] = []
    genuine: list[str] = []
    for r in resets:
        same = [c for c in controls if c.address == r.address and c.state is PortState.OPEN and c.ttl]
        if r.ttl is None or not same:
            continue
        control = same[0]
        near, far = hop_distance(r.ttl), hop_distance(control.ttl or 0)
        line = (
            f"{where(r)}: RST with TTL {r.ttl} ({near} hops away); SYN-ACK on port {control.port} with TTL "
            f"{control.ttl} ({far} hops away)"
        )
        (forged if near != far else genuine).append(line)
    if forged:
        return result(
            EgressVerdict.BLOCKED_RESET,
            f"{scope} The TCP resets on port 25 are forged: they come from another distance than the server's own "
            f"SYN-ACK on the control ports, so a device on the way refuses port 25. {_advice(controls)}",
            basis=forged,
        )
    if genuine and drops:  # those servers refuse 25 themselves; the others' silence is still the path's
        return result(
            EgressVerdict.BLOCKED_DROP,
            f"{scope} Connections to port 25 of {', '.join(sorted({r.host for r in drops}))} went unanswered: "
            "something on the way (usually the provider) silently drops them. The others refuse port 25 "
            f"themselves (their reset comes from as far away as their SYN-ACK), which is no block. {_advice(controls)}",
            basis=genuine,
        )
    if genuine:
        return result(
            EgressVerdict.INCONCLUSIVE,
            "Cannot tell a block: the destinations themselves refuse port 25 (the reset comes from as far away as "
            "their SYN-ACK on the control ports). Try destinations that do accept mail on port 25.",
            basis=genuine,
        )
    return result(
        EgressVerdict.BLOCKED_RESET,
        f"{scope} Port 25 is refused with a TCP reset; no SYN-ACK from the same address was seen to compare TTLs, "
        f"so who sent the reset is unknown. {_advice(controls)}",
    )


class _Result(Protocol):
    """judge_egress's `result`: the EgressResult of a verdict, with everything measured attached."""

    def __call__(
        self,
        verdict: EgressVerdict,
        explanation: str,
        signs: Sequence[EgressSign] = (),
        notes: Sequence[str] = (),
        basis: Sequence[str] = (),
    ) -> EgressResult: ...


# --- findings --------------------------------------------------------------------------------------------

_BY_VERDICT: dict[EgressVerdict, FindingKind] = {
    EgressVerdict.BLOCKED_DROP: e.PORT25_BLOCKED,
    EgressVerdict.BLOCKED_RESET: e.PORT25_BLOCKED,
    EgressVerdict.BLOCKED_ICMP: e.PORT25_BLOCKED,
    EgressVerdict.INTERCEPTED: e.PORT25_INTERCEPTED,
    EgressVerdict.ALL_BLOCKED: e.EGRESS_ALL_BLOCKED,
    EgressVerdict.INCONCLUSIVE: e.EGRESS_INCONCLUSIVE,
}


def egress_subjects(report: Report) -> Iterator[EgressResult]:
    if report.egress is not None:
        yield report.egress


def _label(result: EgressResult) -> str:
    return "outbound port 25"


def _verdict(report: Report, result: EgressResult) -> Iterator[Finding]:
    kind = _BY_VERDICT.get(result.verdict)
    if kind is not None:
        evidence = result.explanation
        named = list(result.basis) or list(result.evidence[:6])
        if named:
            evidence += " Evidence: " + " | ".join(named)
        advice = _advice(_controls(result)) if kind in (e.PORT25_BLOCKED, e.PORT25_INTERCEPTED) else None
        title = f"{kind.title} ({result.verdict.value})"
        yield finding(kind, "outbound port 25", evidence, title=title, fix=advice)
    strip = next((s for s in result.signs if s.kind is EgressSignKind.STARTTLS_STRIPPED), None)
    if strip is not None:
        implicit = any(c.port == IMPLICIT_TLS_PORT and c.state is PortState.OPEN for c in _controls(result))
        fix = (
            "Send through an authenticated submission server over implicit TLS (465 worked from here), and ask the "
            "network's operator to stop rewriting SMTP (ESMTP inspection, a transparent proxy)."
            if implicit
            else "Ask the network's operator to stop rewriting SMTP (ESMTP inspection, a transparent proxy); until "
            "then no mail from here is safe from reading on the way."
        )
        yield finding(e.STARTTLS_STRIPPED, "outbound port 25", strip.text, places=strip.places, fix=fix)


def _controls(result: EgressResult) -> list[PortResult]:
    return [r for r in result.ports if r.port != SMTP_PORT and r.state is not PortState.BLOCKED]


CHECKS: tuple[Check[EgressResult], ...] = (Check("egress", Category.EGRESS, egress_subjects, _label, _verdict),)
