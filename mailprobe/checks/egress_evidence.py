"""Positive evidence that port 25 reaches someone other than the destination, and the notes that are not
evidence. Pure functions over port results and handshakes (see checks/egress.py for the verdict).

  (a) shared-identity: unrelated destinations answer port 25 with one identity that belongs to none of them;
  (b) identity-differs: port 25 of an address greets as another organisation than its 587/465;
  (c) nearer: port 25 answers from nearer than every open control port of the same address;
  (d) masked-greeting, starttls-masked, starttls-stripped: ESMTP inspection's marks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mailprobe.dns.names import is_address
from mailprobe.model import EgressSign, EgressSignKind, HandshakeResult, PortResult, PortState, StartTlsOutcome
from mailprobe.protocols.ttl import hop_distance

# Second-level labels under which registrations happen (example.co.uk): enough for "same organisation".
_SECOND_LEVEL = {"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"}
# Names of a private network: a greeting with one says nothing about whose server it is ("localhost",
# "EX01.corp.example.local", "mail.lan"), as a greeting word without a dot ("ESMTP") says nothing at all.
_PRIVATE_SUFFIXES = {"local", "localdomain", "localhost", "lan", "internal", "intranet", "home", "corp", "private"}
# Connect mode: port 25 "answers from nearer" when its handshake took less than a third of the same
# address's control ports and at least this much less; a control over a second was likely a SYN retransmit.
NEARER_RATIO = 3.0
NEARER_MIN_MS = 10.0
RETRANSMIT_MS = 1000.0


# --- names: whose is a greeting or a certificate? ----------------------------------------------------------


def names_a_server(greeting: str) -> bool:
    """Whether a greeting's first word can tell whose server answered: a dotted, public-looking host name."""
    labels = greeting.lower().rstrip(".").split(".")
    return (
        len(labels) >= 2
        and all(labels)
        and not is_address(greeting)
        and labels[-1].isalpha()
        and labels[-1] not in _PRIVATE_SUFFIXES
    )


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
        # Only a greeting that names a server is an identity (see names_a_server); the rest is no evidence.
        return Identity(greeting if names_a_server(greeting) else "", leaf.fingerprint_sha256 if leaf else "", names)


def _owners(h: HandshakeResult, reverse: dict[str, str]) -> set[str]:
    """The organisations a destination address belongs to: its name's and its reverse DNS name's."""
    names = [h.target.host, reverse.get(h.target.address, "")]
    return {organisation(n) for n in names if n and not is_address(n)}


def where(r: PortResult) -> str:
    name = r.host if r.host and r.host != r.address else ""
    return f"{name} [{r.address}]:{r.port}" if name else f"[{r.address}]:{r.port}"


def _hswhere(h: HandshakeResult) -> str:
    t = h.target
    return f"{t.host} [{t.address}]:{t.port}" if t.host != t.address else f"[{t.address}]:{t.port}"


def port_line(r: PortResult) -> str:
    extra = f", TTL {r.ttl}" if r.ttl is not None else ""
    return f"{where(r)} {r.state.value} ({r.reason}, {r.elapsed_ms:g} ms{extra})"


def handshake_line(h: HandshakeResult) -> str:
    parts = [f"{_hswhere(h)} {h.status.value}"]
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


def shared_identity(o: Observed) -> Iterator[EgressSign]:
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
            places = tuple(_hswhere(h) for h in members)
            yield EgressSign(
                EgressSignKind.SHARED_IDENTITY,
                f"unrelated destinations ({', '.join(sorted({h.target.host for h in members}))}) all {what} "
                f"{label}, which belongs to none of them",
                places,
            )


def identity_differs(o: Observed) -> Iterator[EgressSign]:
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
        if mine.fingerprint and mine.fingerprint == theirs.fingerprint:
            continue  # one certificate on both ports: one server, whatever each greeting says
        if organisation(mine.greeting) != organisation(theirs.greeting):
            yield EgressSign(
                EgressSignKind.IDENTITY_DIFFERS,
                f"{h.target.address} greets as {mine.greeting!r} on port 25 but as {theirs.greeting!r} on "
                f"port {control.target.port}: port 25 reaches another server",
                (_hswhere(h), _hswhere(control)),
            )


def nearer(o: Observed) -> Iterator[EgressSign]:
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
            text = f"{where(r)} answers from {hop_distance(r.ttl)} hops away (TTL {r.ttl}); ports {others}"
        else:
            others = ", ".join(f"{c.port} in {o.ms(c):g} ms" for c in same)
            text = f"{where(r)} accepted the connection in {o.ms(r):g} ms; the same address's {others}"
            if o.best_ms:
                text += " (each the fastest of several connects)"
        yield EgressSign(EgressSignKind.NEARER, text, (where(r), *(where(c) for c in same)))


def signatures(o: Observed) -> Iterator[EgressSign]:
    """(d) ESMTP inspection's marks: a masked greeting, XXXXXXXA."""
    masked = [h for h in o.greeted if h.smtp is not None and h.smtp.greeting_masked]
    if masked:
        quoted = "; ".join(f"{_hswhere(h)}: {(h.greeting_code + ' ' + h.banner)[:60]!r}" for h in masked)
        yield EgressSign(
            EgressSignKind.MASKED_GREETING,
            f"the greeting is masked with asterisks (ESMTP inspection's banner obfuscation): {quoted}",
            tuple(_hswhere(h) for h in masked),
        )
    xed = [h for h in o.greeted if h.smtp is not None and h.smtp.starttls_masked]
    if xed:
        yield EgressSign(
            EgressSignKind.STARTTLS_MASKED,
            "the EHLO reply lists XXXXXXXA where STARTTLS belongs (ESMTP inspection removes it): "
            + ", ".join(_hswhere(h) for h in xed),
            tuple(_hswhere(h) for h in xed),
        )


def _offers_tls(h: HandshakeResult) -> bool:
    if h.target.service.implicit_tls:
        return h.tls is not None
    return h.starttls in (StartTlsOutcome.OK, StartTlsOutcome.FAILED, StartTlsOutcome.REFUSED) or h.tls is not None


def no_starttls_on_25(h: HandshakeResult) -> bool:
    masked = h.smtp is not None and h.smtp.starttls_masked
    return masked or h.starttls in (StartTlsOutcome.NOT_OFFERED, StartTlsOutcome.REFUSED)


def stripped(o: Observed) -> EgressSign | None:
    """(d) STARTTLS missing or refused on 25 at every destination whose own 587/465 offers TLS: more than
    one such destination, or one known to offer STARTTLS on 25."""
    with_tls = {c.target.address for c in o.control_handshakes if _offers_tls(c)}
    judged = [h for h in o.greeted if h.target.address in with_tls or h.target.host in o.starttls_known]
    if not judged or not all(no_starttls_on_25(h) for h in judged):
        return None
    known = [h for h in judged if h.target.host in o.starttls_known]
    # Destinations, not addresses: one server's IPv4 and IPv6 addresses are still one server's setting.
    if len({h.target.host for h in judged}) < 2 and not known:
        return None
    return EgressSign(
        EgressSignKind.STARTTLS_STRIPPED,
        "no STARTTLS on port 25 at " + "; ".join(_stripped_at(h, with_tls) for h in judged),
        tuple(_hswhere(h) for h in judged),
    )


def _stripped_at(h: HandshakeResult, with_tls: set[str]) -> str:
    """One destination's part of the evidence: what port 25 did, and why TLS was expected there."""
    masked = h.smtp is not None and h.smtp.starttls_masked
    seen = "XXXXXXXA in place of STARTTLS" if masked else f"STARTTLS {h.starttls.value}"
    expected = "its 587/465 offered TLS" if h.target.address in with_tls else "known to offer STARTTLS on port 25"
    return f"{_hswhere(h)} ({seen}; {expected})"


def notes(o: Observed, signs: Sequence[EgressSign]) -> Iterator[str]:
    """Signs that are common on healthy systems: said, never judged."""
    for h in o.greeted:
        ident = Identity.of(h)
        owners = _owners(h, o.reverse)
        if ident.greeting and not is_address(ident.greeting) and organisation(ident.greeting) not in owners:
            yield (
                f"{_hswhere(h)} greets as {ident.greeting!r}, a name of another organisation (normal for "
                "hosted mail and shared hosting)"
            )
        if h.tls is not None and h.tls.leaf is not None and not h.tls.hostname_match:
            yield (
                f"{_hswhere(h)} presents a certificate for {h.tls.leaf.subject!r}, not {h.tls.hostname} "
                "(common on port 25, where senders use TLS opportunistically)"
            )
    if not any(s.kind is EgressSignKind.STARTTLS_STRIPPED for s in signs):
        for h in o.greeted:
            if no_starttls_on_25(h):
                yield f"{_hswhere(h)} offers no STARTTLS on port 25 (that server's own setting, seen alone)"
