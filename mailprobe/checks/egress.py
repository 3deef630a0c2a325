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
from dataclasses import dataclass
from typing import Protocol

from mailprobe.checks.catalogue import FindingKind, finding
from mailprobe.checks.defs import egress as e
from mailprobe.checks.framework import Check
from mailprobe.dns.names import is_address
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
    StartTlsOutcome,
)
from mailprobe.protocols.ttl import hop_distance

SMTP_PORT = 25
SUBMISSION_PORTS = (587, 465)
# Second-level labels under which registrations happen (example.co.uk): enough for "same organisation".
_SECOND_LEVEL = {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"}
# Connect mode: port 25 "answers from nearer" when its handshake took less than a third of the same
# address's control ports and at least this much less; a control over a second was likely a SYN retransmit.
NEARER_RATIO = 3.0
NEARER_MIN_MS = 10.0
RETRANSMIT_MS = 1000.0


def exit_code(verdict: EgressVerdict) -> int:
    """0 only when port 25 is open; 1 for a definite problem; 3 when the run could not tell."""
    if verdict is EgressVerdict.OPEN:
        return 0
    return 3 if verdict is EgressVerdict.INCONCLUSIVE else 1


# --- names: whose is a greeting or a certificate? ----------------------------------------------------------


def organisation(name: str) -> str:
    """The registered domain, roughly: the last two labels, three under a second-level label (co.uk)."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


@dataclass(frozen=True, slots=True)
class Identity:
    """Who answered on a port: the greeting's host name and the certificate (fingerprint, names)."""

    greeting: str
    fingerprint: str
    cert_names: tuple[str, ...]

    @staticmethod
    def of(h: HandshakeResult) -> Identity:
        leaf = h.tls.leaf if h.tls is not None else None
        names = tuple(n.split(":", 1)[1].lower().lstrip("*.") for n in leaf.san if n.startswith("DNS:")) if leaf else ()
        if leaf is not None and not names:
            names = tuple(p[3:].lower() for p in leaf.subject.split(",") if p.startswith("CN="))
        greeting = h.smtp.greeting_host if h.smtp is not None else ""
        return Identity(greeting, leaf.fingerprint_sha256 if leaf else "", names)


def _owners(h: HandshakeResult, reverse: dict[str, str]) -> set[str]:
    """The organisations a destination address belongs to: its name's and its reverse DNS name's."""
    names = [h.target.host, reverse.get(h.target.address, "")]
    return {organisation(n) for n in names if n and not is_address(n)}


def _where(r: PortResult) -> str:
    name = r.host if r.host and r.host != r.address else ""
    return f"{name} [{r.address}]:{r.port}" if name else f"[{r.address}]:{r.port}"


def _hs_where(h: HandshakeResult) -> str:
    t = h.target
    return f"{t.host} [{t.address}]:{t.port}" if t.host != t.address else f"[{t.address}]:{t.port}"


def port_line(r: PortResult) -> str:
    extra = f", TTL {r.ttl}" if r.ttl is not None else ""
    return f"{_where(r)} {r.state.value} ({r.reason}, {r.elapsed_ms:g} ms{extra})"


def handshake_line(h: HandshakeResult) -> str:
    parts = [f"{_hs_where(h)} {h.status.value}"]
    if h.banner or h.greeting_code:
        parts.append(f"greeting {(h.greeting_code + ' ' + h.banner[:100]).strip()!r}")
    if h.starttls is not StartTlsOutcome.NOT_APPLICABLE:
        parts.append(f"STARTTLS {h.starttls.value}")
    if h.tls is not None and h.tls.leaf is not None:
        match = "matches" if h.tls.hostname_match else "does not match"
        parts.append(f"certificate {h.tls.leaf.subject!r} {match} {h.tls.hostname}")
    elif h.reason and not h.banner:
        parts.append(h.reason)
    return "; ".join(parts)


# --- positive evidence -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observed:
    """What a judgement of an open port 25 works from."""

    open25: tuple[PortResult, ...]
    controls: tuple[PortResult, ...]
    greeted: tuple[HandshakeResult, ...]  # port-25 handshakes that got a greeting
    control_handshakes: tuple[HandshakeResult, ...]
    reverse: dict[str, str]
    starttls_known: frozenset[str]
    best_ms: dict[tuple[str, int], float]  # connect mode: the fastest of several connects, where sampled

    def sampled(self, r: PortResult) -> bool:
        return (r.address, r.port) in self.best_ms

    def ms(self, r: PortResult) -> float:
        """How long the port took to accept: the best sample when it was sampled again."""
        return self.best_ms.get((r.address, r.port), r.elapsed_ms)


def _shared_identity(o: Observed) -> Iterator[EgressSign]:
    """(a) Destinations at different addresses of different organisations answering with one identity that
    belongs to none of them. One provider hosting several destinations shares its identity with them: a note."""
    by_greeting: dict[str, list[HandshakeResult]] = {}
    by_cert: dict[str, list[HandshakeResult]] = {}
    for h in o.greeted:
        ident = Identity.of(h)
        if ident.greeting and not is_address(ident.greeting):
            by_greeting.setdefault(ident.greeting, []).append(h)
        if ident.fingerprint:
            by_cert.setdefault(ident.fingerprint, []).append(h)
    for what, groups in (("greet as", by_greeting), ("present the certificate", by_cert)):
        for key, members in sorted(groups.items()):
            addresses = {h.target.address for h in members}
            owners = [_owners(h, o.reverse) for h in members]
            unrelated = len(addresses) > 1 and len({frozenset(x) for x in owners}) > 1
            if not unrelated:
                continue
            ident = Identity.of(members[0])
            names = [key] if what == "greet as" else list(ident.cert_names)
            theirs = {organisation(n) for n in names if not is_address(n)} & set().union(*owners)
            label = key if what == "greet as" else f"{key[:16]}… ({', '.join(ident.cert_names) or 'no names'})"
            if theirs:
                continue  # the identity is one of theirs: a shared provider, not a middlebox
            places = tuple(_hs_where(h) for h in members)
            yield EgressSign(
                EgressSignKind.SHARED_IDENTITY,
                f"unrelated destinations ({', '.join(sorted({h.target.host for h in members}))}) all {what} "
                f"{label}, which belongs to none of them",
                places,
            )


def _identity_differs(o: Observed) -> Iterator[EgressSign]:
    """(b) Port 25 of an address greets as another organisation than the same address on 587/465."""
    controls: dict[str, tuple[HandshakeResult, Identity]] = {}
    for c in o.control_handshakes:
        ident = Identity.of(c)
        if ident.greeting and not is_address(ident.greeting):
            controls.setdefault(c.target.address, (c, ident))
    for h in o.greeted:
        found = controls.get(h.target.address)
        mine = Identity.of(h)
        if found is None or not mine.greeting or is_address(mine.greeting):
            continue
        control, theirs = found
        if organisation(mine.greeting) != organisation(theirs.greeting):
            yield EgressSign(
                EgressSignKind.IDENTITY_DIFFERS,
                f"{h.target.address} greets as {mine.greeting!r} on port 25 but as {theirs.greeting!r} on "
                f"port {control.target.port}: port 25 reaches another server",
                (_hs_where(h), _hs_where(control)),
            )


def _nearer(o: Observed) -> Iterator[EgressSign]:
    """(c) Port 25 answers from nearer than every open control port of the same address."""
    compared: list[tuple[PortResult, list[PortResult], bool]] = []
    for r in o.open25:
        same = [c for c in o.controls if c.address == r.address and c.state is PortState.OPEN]
        if not same:
            continue
        if r.ttl is not None and all(c.ttl is not None for c in same):
            near = all(hop_distance(r.ttl) < hop_distance(c.ttl or 0) for c in same)
        else:
            # A connect sampled again is clean (one attempt each, fixed timeout); otherwise only a first-attempt
            # answer that came before any retransmit is a round trip.
            usable = [c for c in same if o.sampled(c) or (c.elapsed_ms < RETRANSMIT_MS and c.attempts == 1)]
            if not usable or not (o.sampled(r) or r.attempts == 1):
                continue
            fastest = min(o.ms(c) for c in usable)
            near = o.ms(r) * NEARER_RATIO < fastest and fastest - o.ms(r) >= NEARER_MIN_MS
            same = usable
        compared.append((r, same, near))
    if not compared or not all(near for _, _, near in compared):
        return  # one address answering 25 from farther (or as far) away is no middlebox in the path
    for r, same, _ in compared:
        if r.ttl is not None and all(c.ttl is not None for c in same):
            others = ", ".join(f"{c.port} from {hop_distance(c.ttl or 0)} (TTL {c.ttl})" for c in same)
            text = f"{_where(r)} answers from {hop_distance(r.ttl)} hops away (TTL {r.ttl}); ports {others}"
        else:
            others = ", ".join(f"{c.port} in {o.ms(c):g} ms" for c in same)
            text = f"{_where(r)} accepted the connection in {o.ms(r):g} ms; the same address's {others}"
            if o.best_ms:
                text += " (each the fastest of several connects)"
        yield EgressSign(EgressSignKind.NEARER, text, (_where(r), *(_where(c) for c in same)))


def _signatures(o: Observed) -> Iterator[EgressSign]:
    """(d) ESMTP inspection's marks: a masked greeting, XXXXXXXA."""
    masked = [h for h in o.greeted if h.smtp is not None and h.smtp.greeting_masked]
    if masked:
        quoted = "; ".join(f"{_hs_where(h)}: {(h.greeting_code + ' ' + h.banner)[:60]!r}" for h in masked)
        yield EgressSign(
            EgressSignKind.MASKED_GREETING,
            f"the greeting is masked with asterisks (ESMTP inspection's banner obfuscation): {quoted}",
            tuple(_hs_where(h) for h in masked),
        )
    xed = [h for h in o.greeted if h.smtp is not None and h.smtp.starttls_masked]
    if xed:
        yield EgressSign(
            EgressSignKind.STARTTLS_MASKED,
            "the EHLO reply lists XXXXXXXA where STARTTLS belongs (ESMTP inspection removes it): "
            + ", ".join(_hs_where(h) for h in xed),
            tuple(_hs_where(h) for h in xed),
        )


def _offers_tls(h: HandshakeResult) -> bool:
    if h.target.service.implicit_tls:
        return h.tls is not None
    return h.starttls in (StartTlsOutcome.OK, StartTlsOutcome.FAILED, StartTlsOutcome.REFUSED) or h.tls is not None


def _no_starttls_on_25(h: HandshakeResult) -> bool:
    masked = h.smtp is not None and h.smtp.starttls_masked
    return masked or h.starttls in (StartTlsOutcome.NOT_OFFERED, StartTlsOutcome.REFUSED)


def stripped(o: Observed) -> EgressSign | None:
    """(d) STARTTLS missing or refused on 25 at every destination whose own 587/465 offers TLS: more than
    one such destination, or one known to offer STARTTLS on 25."""
    with_tls = {c.target.address for c in o.control_handshakes if _offers_tls(c)}
    judged = [h for h in o.greeted if h.target.address in with_tls or h.target.host in o.starttls_known]
    if not judged or not all(_no_starttls_on_25(h) for h in judged):
        return None
    known = [h for h in judged if h.target.host in o.starttls_known]
    # Destinations, not addresses: one server's IPv4 and IPv6 addresses are still one server's setting.
    if len({h.target.host for h in judged}) < 2 and not known:
        return None
    return EgressSign(
        EgressSignKind.STARTTLS_STRIPPED,
        "no STARTTLS on port 25 at "
        + ", ".join(_hs_where(h) for h in judged)
        + ", though the same servers offer TLS on 587/465"
        + (" (or are known to offer STARTTLS on 25)" if known else ""),
        tuple(_hs_where(h) for h in judged),
    )


def _notes(o: Observed, signs: Sequence[EgressSign]) -> Iterator[str]:
    """Signs that are common on healthy systems: said, never judged."""
    for h in o.greeted:
        ident = Identity.of(h)
        owners = _owners(h, o.reverse)
        if ident.greeting and not is_address(ident.greeting) and organisation(ident.greeting) not in owners:
            yield (
                f"{_hs_where(h)} greets as {ident.greeting!r}, a name of another organisation (normal for "
                "hosted mail and shared hosting)"
            )
        if h.tls is not None and h.tls.leaf is not None and not h.tls.hostname_match:
            yield (
                f"{_hs_where(h)} presents a certificate for {h.tls.leaf.subject!r}, not {h.tls.hostname} "
                "(common on port 25, where senders use TLS opportunistically)"
            )
    if not any(s.kind is EgressSignKind.STARTTLS_STRIPPED for s in signs):
        for h in o.greeted:
            if _no_starttls_on_25(h):
                yield f"{_hs_where(h)} offers no STARTTLS on port 25 (that server's own setting, seen alone)"


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
    signs = [*_shared_identity(o), *_identity_differs(o), *_nearer(o), *_signatures(o)]
    strip = stripped(o)
    if strip is not None:
        signs.append(strip)
    notes = list(dict.fromkeys(_notes(o, signs)))
    destinations = ", ".join(sorted({r.host for r in o.open25}))
    if signs:
        return result(
            EgressVerdict.INTERCEPTED,
            f"Port 25 connects, but something on the way answers or rewrites it: {len(signs)} piece"
            f"{'s' if len(signs) > 1 else ''} of evidence below show port 25 reaching another party than "
            f"{destinations}. Mail sent directly from here passes through it, where it can be read, filtered or "
            "dropped. " + _advice(o.controls),
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
            f"ICMP {r.icmp.description} (type {r.icmp.type}, code {r.icmp.code}) from {r.icmp.sender} for {_where(r)}"
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
        return _judge_reset(resets, controls, raw, scope, result)
    return result(
        EgressVerdict.BLOCKED_DROP,
        f"{scope} Every connection to port 25 went unanswered: something on the way (usually the provider) "
        f"silently drops it, a common anti-spam policy. {_advice(controls)}",
    )


def _judge_reset(
    resets: Sequence[PortResult], controls: Sequence[PortResult], raw: bool, scope: str, result: _Result
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
            f"{_where(r)}: RST with TTL {r.ttl} ({near} hops away); SYN-ACK on port {control.port} with TTL "
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
        yield finding(kind, "outbound port 25", evidence, title=f"{kind.title} ({result.verdict.value})")
    strip = next((s for s in result.signs if s.kind is EgressSignKind.STARTTLS_STRIPPED), None)
    if strip is not None:
        yield finding(e.STARTTLS_STRIPPED, "outbound port 25", strip.text, places=strip.places)


CHECKS: tuple[Check[EgressResult], ...] = (Check("egress", Category.EGRESS, egress_subjects, _label, _verdict),)
