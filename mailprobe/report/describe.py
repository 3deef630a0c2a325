"""Plain-language rows shared by the human formats (table, Markdown, HTML).

Everything here returns raw, unescaped text (server strings included): each renderer escapes it for its
own format. Labels are ours; values are not.
"""

from __future__ import annotations

from mailprobe.model import (
    Capability,
    CertFacts,
    DomainDns,
    EgressResult,
    HandshakeResult,
    MxHost,
    PortResult,
    Report,
    StartTlsOutcome,
    TlsFacts,
)
from mailprobe.report.summary import summarize


def ms(value: float) -> str:
    return f"{value:.1f}"


def hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def target_text(h: HandshakeResult) -> str:
    t = h.target
    return f"{t.service.value} {t.host} {hostport(t.address, t.port)}"


def cap_text(cap: Capability) -> str:
    return " ".join((cap.keyword, *cap.params))


def caps_text(caps: tuple[Capability, ...]) -> str:
    return ", ".join(cap_text(c) for c in caps)


def caps_diff(before: tuple[Capability, ...], after: tuple[Capability, ...]) -> str:
    """What STARTTLS changed: 'added: AUTH PLAIN; removed: STARTTLS; changed: SIZE 1 -> SIZE 2'."""
    old = {c.keyword: cap_text(c) for c in before}
    new = {c.keyword: cap_text(c) for c in after}
    added = [text for key, text in new.items() if key not in old]
    removed = [text for key, text in old.items() if key not in new]
    changed = [f"{old[key]} -> {text}" for key, text in new.items() if key in old and old[key] != text]
    parts = [
        f"{label}: {', '.join(items)}"
        for label, items in (("added", added), ("removed", removed), ("changed", changed))
        if items
    ]
    return "; ".join(parts) if parts else "no change"


def mx_rows(mx: MxHost) -> tuple[str, str, str, str, str]:
    """pref, name, addresses, PTR (one line per address), status."""
    fcrdns = dict(mx.fcrdns)
    ptr_lines = []
    for address, name in mx.ptr:
        confirmed = fcrdns.get(address)
        mark = "" if confirmed is None else (" (FCrDNS ok)" if confirmed else " (FCrDNS mismatch)")
        ptr_lines.append(f"{address} -> {name or '(no PTR)'}{mark}")
    status = mx.status.value + (f" -> {mx.cname_target}" if mx.cname_target else "")
    return str(mx.preference), mx.name, ", ".join(mx.addresses), "\n".join(ptr_lines), status


def dns_heading(d: DomainDns) -> str:
    dnssec = {None: "", True: ", DNSSEC validated", False: ", not DNSSEC validated"}[d.authenticated]
    reason = f": {d.reason}" if d.reason else ""
    return f"MX {d.status.value}{reason} ({ms(d.elapsed_ms)} ms{dnssec})"


def port_row(p: PortResult) -> tuple[str, str, str, str, str, str]:
    rounds = f" in {p.rounds} rounds" if p.rounds > 1 else ""
    seen = f"; {p.busy_path.seen}" if p.busy_path is not None else ""
    tries = f" ({p.attempts} tries{rounds}{seen})" if p.attempts > 1 else ""
    service = p.service.value if p.service else ""
    return p.address, str(p.port), service, p.state.value, p.reason + tries, ms(p.elapsed_ms)


def handshake_heading(h: HandshakeResult) -> str:
    return f"{target_text(h)}: {h.status.value} ({ms(h.elapsed_ms)} ms, {h.round_trips} round trips)"


def handshake_rows(h: HandshakeResult) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if h.reason:
        rows.append(("reason", h.reason))
    if h.sessions > 1:
        rows.append(("sessions", f"{h.sessions}: the first timed out beside other sessions to its network"))
    if h.banner or h.greeting_code:
        rows.append(("greeting", f"{h.greeting_code} {h.banner}".strip()))
    if h.starttls is not StartTlsOutcome.NOT_APPLICABLE:
        reply = f": {h.starttls_reply}" if h.starttls_reply else ""
        rows.append(("STARTTLS", h.starttls.value + reply))
    if h.capabilities_before:
        rows.append(("capabilities", caps_text(h.capabilities_before)))
    if h.capabilities_after and h.starttls is StartTlsOutcome.NOT_APPLICABLE:
        rows.append(("capabilities", caps_text(h.capabilities_after) + "  (over implicit TLS)"))
    elif h.capabilities_after:
        rows.append(("after STARTTLS", caps_text(h.capabilities_after)))
        rows.append(("STARTTLS diff", caps_diff(h.capabilities_before, h.capabilities_after)))
    if h.starttls is StartTlsOutcome.NOT_APPLICABLE and h.auth_after_tls:
        rows.append(("AUTH", " ".join(h.auth_after_tls)))
    elif h.auth_before_tls or h.auth_after_tls:
        rows.append(("AUTH before TLS", " ".join(h.auth_before_tls) or "(none)"))
        rows.append(("AUTH after TLS", " ".join(h.auth_after_tls) or "(none)"))
    if h.plaintext_login_before_tls:
        rows.append(("plaintext login", "offered before TLS"))
    if h.injected_bytes:
        rows.append(("injected", f"{h.injected_bytes} bytes before the TLS handshake (discarded)"))
    if h.tls is not None:
        rows.extend(tls_rows(h.tls))
    if h.tls_error:
        rows.append(("TLS error", h.tls_error))
    rows.extend(fact_rows(h))
    return rows


def fact_rows(h: HandshakeResult) -> list[tuple[str, str]]:
    """What the protocol-specific steps saw, one row each (only what was seen)."""
    rows: list[tuple[str, str]] = []
    if h.smtp is not None:
        f = h.smtp
        if f.greeting_masked:
            rows.append(("greeting", "masked with asterisks (ESMTP inspection)"))
        if f.starttls_masked:
            rows.append(("STARTTLS", "replaced by XXXXXXXA in the EHLO reply (ESMTP inspection)"))
        if not f.esmtp:
            rows.append(("ESMTP", "no: EHLO refused, HELO accepted"))
        for label, reply in (
            ("EHLO refused", f.ehlo_refused),
            ("EHLO after TLS refused", f.ehlo_refused_after_tls),
            ("MAIL before TLS", f.mail_before_tls),
            ("VRFY postmaster", f.vrfy),
            ("EXPN postmaster", f.expn),
            ("relay test MAIL", f.relay_mail),
            ("relay test RCPT", f.relay_rcpt),
        ):
            if reply is not None:
                rows.append((label, reply.line))
        if f.size_limit is not None:
            rows.append(("size limit", f"{f.size_limit} bytes"))
    if h.pop3 is not None:
        g = h.pop3
        for label, value in (
            ("APOP stamp", g.apop_timestamp),
            ("expire", g.expire or ""),
            ("implementation", g.implementation),
            ("login delay", g.login_delay),
            ("CAPA refused", g.capa_refused.line if g.capa_refused else ""),
            ("CAPA after TLS refused", g.capa_refused_after_tls.line if g.capa_refused_after_tls else ""),
        ):
            if value:
                rows.append((label, value))
    if h.imap is not None:
        i = h.imap
        if i.preauth:
            rows.append(("PREAUTH", "logged in without credentials"))
        if i.greeting_capabilities:
            rows.append(("greeting capabilities", " ".join(i.greeting_capabilities)))
        for label, reply in (
            ("CAPABILITY refused", i.capability_refused),
            ("CAPABILITY after TLS refused", i.capability_refused_after_tls),
        ):
            if reply is not None:
                rows.append((label, reply.line))
    return rows


def dns_notes(d: DomainDns) -> list[str]:
    """What the MX answer itself showed besides the hosts (an alias, a mixed null MX, duplicates)."""
    notes = []
    if d.alias_of:
        notes.append(f"{d.domain} is an alias of {d.alias_of}")
    if d.null_mx_mixed:
        notes.append("null MX beside other MX records")
    if d.duplicate_mx:
        notes.append("listed in several MX records: " + ", ".join(d.duplicate_mx))
    return notes


def tls_rows(tls: TlsFacts) -> list[tuple[str, str]]:
    group = f", {tls.group}" if tls.group else ""
    rows = [("TLS", f"{tls.version} {tls.cipher} ({tls.cipher_bits} bits{group})")]
    if tls.legacy_versions:
        rows.append(("legacy TLS", "still accepted: " + ", ".join(tls.legacy_versions)))
    if tls.legacy_unknown:
        rows.append(("legacy TLS", "not judged (no conclusion from its test): " + ", ".join(tls.legacy_unknown)))
    if tls.legacy_not_offered:
        words = "not judged (this machine's OpenSSL cannot offer it): "
        rows.append(("legacy TLS", words + ", ".join(tls.legacy_not_offered)))
    trust = "verified" if tls.verified else "NOT trusted" + (f": {tls.verify_error}" if tls.verify_error else "")
    rows.append(("trust", trust))
    rows.append(("host match", ("yes" if tls.hostname_match else "NO") + f" ({tls.hostname})"))
    if tls.leaf is not None:
        rows.extend(cert_rows(tls.leaf))
    for index, cert in enumerate(tls.chain[1:], start=1):
        rows.append((f"chain {index}", f"{cert.subject} (issuer {cert.issuer}, until {cert.not_after})"))
    return rows


def expiry_text(cert: CertFacts) -> str:
    if cert.days_left < 0:
        return f"{cert.not_after} (EXPIRED {-cert.days_left} days ago)"
    return f"{cert.not_after} ({cert.days_left} days left)"


def cert_rows(cert: CertFacts) -> list[tuple[str, str]]:
    signed = " (self-signed)" if cert.self_signed else ""
    return [
        ("cert subject", cert.subject),
        ("cert SAN", ", ".join(cert.san) or "(none)"),
        ("cert issuer", cert.issuer + signed),
        ("cert expires", expiry_text(cert)),
        ("cert key", f"{cert.key_type} {cert.key_bits} bits, {cert.signature_algorithm}"),
        ("cert sha256", cert.fingerprint_sha256),
    ]


def egress_rows(e: EgressResult) -> list[tuple[str, str]]:
    rows = [("verdict", e.verdict.value), ("explanation", e.explanation)]
    rows.extend(("sign", sign.text) for sign in e.signs)
    rows.extend(("note", note) for note in e.notes)
    rows.extend(("evidence", line) for line in e.evidence)
    return rows


def headline(report: Report) -> str:
    return f"mailprobe {report.command}: {', '.join(report.targets) or '(no targets)'}"


def run_line(report: Report) -> str:
    parts = [f"started {report.started_at}", f"{ms(report.elapsed_ms)} ms"]
    if report.profile:
        parts.append(f"profile {report.profile}")
    if report.tool_version:
        parts.append(f"mailprobe {report.tool_version}")
    return ", ".join(parts)


UNFINISHED_SHOWN = 20  # unfinished targets listed by the formats people read (JSON and JUnit list them all)


def unfinished_lines(report: Report) -> list[str]:
    """An interrupted run's unfinished targets for people: the first UNFINISHED_SHOWN, then how many more."""
    shown = list(report.unfinished[:UNFINISHED_SHOWN])
    more = len(report.unfinished) - len(shown)
    return shown + ([f"... and {more} more (the JSON report lists every one)"] if more > 0 else [])


def summary_line(report: Report) -> str:
    s = summarize(report)
    parts = [s.severity_phrase() if s.findings else "no findings"]
    if report.interrupted:
        parts.insert(0, f"INTERRUPTED, {len(report.unfinished)} did not finish")
    if s.worst is not None:
        parts[0] += f" (worst: {s.worst.value})"
    if s.places > s.findings:  # one problem, several places: say both
        parts[0] = f"{s.findings} problem{'s' if s.findings != 1 else ''} on {s.places} places: {parts[0]}"
    if s.total_ports():
        parts.append(f"{s.open_ports()}/{s.total_ports()} ports open")
    if s.total_handshakes():
        parts.append(f"{s.successful_handshakes()}/{s.total_handshakes()} handshakes succeeded")
    if s.egress_verdict:
        parts.append(f"egress {s.egress_verdict}")
    if s.errors:
        parts.append(f"{s.errors} could not be probed" if s.errors > 1 else "1 could not be probed")
    if s.retried:
        parts.append(f"{s.retried} retried after a worker died")
    return "; ".join(parts)
