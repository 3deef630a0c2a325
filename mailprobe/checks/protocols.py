"""Checks of SMTP, POP3 and IMAP dialogues: what a handshake shows a server (or the path to it) doing wrong.

Evidence quotes what the server sent (capability lines as received, replies' first lines); nothing here adds
words to a server's text. Pure functions over the report.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import finding
from mailprobe.checks.defs import protocols as k
from mailprobe.checks.defs import tls as t
from mailprobe.checks.framework import Check
from mailprobe.checks.places import (
    category_of,
    greeted,
    handshakes,
    host_of,
    of_protocol,
    of_service,
    place,
)
from mailprobe.model import (
    Capability,
    Category,
    Finding,
    HandshakeResult,
    ProbeStatus,
    Protocol,
    Reply,
    Report,
    Service,
    Severity,
    StartTlsOutcome,
    TlsProblem,
)

_NO_TLS = {Protocol.SMTP: k.SMTP_NO_STARTTLS, Protocol.POP3: k.POP3_NO_STLS, Protocol.IMAP: k.IMAP_NO_STARTTLS}
# Ends of a session that say the port is not offered (a port state), not that a dialogue failed.
CONNECT_FAILURES = (ProbeStatus.REFUSED, ProbeStatus.CONNECT_TIMEOUT, ProbeStatus.UNREACHABLE, ProbeStatus.SKIPPED)


def _quote(caps: tuple[Capability, ...], *keywords: str) -> str:
    """The capability lines as the server sent them, those with the given keywords (all when none given)."""
    wanted = {w.upper() for w in keywords}
    lines = [c.raw or c.keyword for c in caps if not wanted or c.keyword in wanted]
    return " | ".join(lines) if lines else "(none)"


def _reply(reply: Reply | None) -> str:
    return reply.line if reply is not None else ""


# --- how the session ended ---------------------------------------------------------------------------------


def _again(h: HandshakeResult) -> str:
    """What the evidence adds when the session was tried again (scheduler.py: after waiting on a busy server)."""
    if h.sessions == 1:
        return ""
    return f" (session {h.sessions}: the first timed out beside other sessions to its network)"


def _session(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    where, host, category = place(h), host_of(h), category_of(h)
    if h.status is ProbeStatus.SERVICE_UNAVAILABLE:
        yield finding(k.SERVICE_UNAVAILABLE, host, h.reason, places=(where,), category=category)
    elif h.tls_problem is TlsProblem.PLAINTEXT_ON_TLS_PORT:
        yield finding(t.NO_TLS_PORT, host, h.reason, places=(where,))
    elif h.status in (ProbeStatus.PROTOCOL_ERROR, ProbeStatus.LIMIT_EXCEEDED):
        yield finding(k.PROTOCOL_ERROR, host, h.reason, places=(where,), category=category)
    elif h.status is ProbeStatus.TLS_HANDSHAKE_ERROR:
        yield finding(t.TLS_HANDSHAKE_FAILED, host, h.reason + _again(h), places=(where,))
    elif h.status not in (ProbeStatus.SUCCESS, *CONNECT_FAILURES):
        # The port accepted the connection, then the dialogue failed (a TLS handshake that timed out included:
        # the server was slow, which says nothing of its certificate): the service is broken, not absent.
        evidence = f"{h.status.value}: {h.reason}{_again(h)}"
        yield finding(k.HANDSHAKE_FAILED, host, evidence, places=(where,), category=category)


# --- TLS on the plaintext ports --------------------------------------------------------------------------


def _starttls(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    if h.target.service.implicit_tls:
        return
    where, host = place(h), host_of(h)
    masked = h.smtp is not None and h.smtp.starttls_masked
    if masked:
        evidence = f"EHLO: {_quote(h.capabilities_before, 'XXXXXXXA')}"
        yield finding(k.STARTTLS_MASKED, host, evidence, places=(where,))
    elif h.starttls is StartTlsOutcome.NOT_OFFERED:
        evidence = f"capabilities: {_quote(h.capabilities_before)}"
        yield finding(_NO_TLS[h.target.service.protocol], host, evidence, places=(where,))
    if h.starttls is StartTlsOutcome.REFUSED:
        yield finding(t.STARTTLS_REFUSED, host, h.starttls_reply, places=(where,))
    if h.injected_bytes:
        evidence = f"{h.injected_bytes} bytes arrived before the TLS handshake"
        yield finding(t.STARTTLS_INJECTION, host, evidence, places=(where,))


# --- authentication in clear text -------------------------------------------------------------------------


def _plaintext_auth(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    where, host, protocol = place(h), host_of(h), h.target.service.protocol
    if h.target.service.implicit_tls:
        return
    if protocol is Protocol.SMTP and h.auth_before_tls:
        severity = Severity.HIGH if h.target.service is Service.SUBMISSION else None
        evidence = f"before TLS: {_quote(h.capabilities_before, 'AUTH')}"
        yield finding(k.AUTH_BEFORE_TLS, host, evidence, places=(where,), severity=severity)
    elif protocol is Protocol.POP3 and h.plaintext_login_before_tls:
        evidence = f"CAPA before TLS: {_quote(h.capabilities_before, 'USER', 'SASL')}"
        yield finding(k.POP3_PLAINTEXT_LOGIN, host, evidence, places=(where,))
    elif protocol is Protocol.IMAP and h.plaintext_login_before_tls:
        evidence = f"CAPABILITY before TLS: {' '.join(c.raw or c.keyword for c in h.capabilities_before)}"
        yield finding(k.IMAP_PLAINTEXT_LOGIN, host, evidence, places=(where,))


def _preauth(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    if h.imap is not None and h.imap.preauth:
        yield finding(k.IMAP_PREAUTH, host_of(h), f"{h.greeting_code} {h.banner}", places=(place(h),))


# --- SMTP ------------------------------------------------------------------------------------------------


def _submission_requires_tls(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    mail = h.smtp.mail_before_tls if h.smtp is not None else None
    if mail is not None and mail.positive:
        yield finding(k.SUBMISSION_TLS_NOT_REQUIRED, host_of(h), f"MAIL FROM:<> → {mail.line}", places=(place(h),))


def _vrfy_answers(reply: Reply, h: HandshakeResult) -> bool:
    """250/251 confirm a mailbox. 252 is "cannot verify, will accept" (RFC 5321 3.5.3) from servers that refuse
    to tell, but a server that advertises VRFY (Postfix with disable_vrfy_command = no) answers 252 for the
    addresses it knows, so there 252 means enabled too."""
    advertised = any(c.keyword == "VRFY" for c in (*h.capabilities_before, *h.capabilities_after))
    return reply.code in ("250", "251") or (reply.code == "252" and advertised)


def _address_leaks(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    if h.smtp is None:
        return
    where, host = place(h), host_of(h)
    vrfy, expn = h.smtp.vrfy, h.smtp.expn
    if vrfy is not None and _vrfy_answers(vrfy, h):
        yield finding(k.SMTP_VRFY, host, f"VRFY postmaster → {vrfy.line}", places=(where,))
    if expn is not None and expn.code in ("250", "251"):
        yield finding(k.SMTP_EXPN, host, f"EXPN postmaster → {expn.line}", places=(where,))


def relay_tested(report: Report) -> Iterator[HandshakeResult]:
    yield from (h for h in report.handshakes if h.smtp is not None and h.smtp.relay_mail is not None)


def _open_relay(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    rcpt = h.smtp.relay_rcpt if h.smtp is not None else None
    if rcpt is not None and rcpt.positive:
        yield finding(k.SMTP_OPEN_RELAY, host_of(h), f"RCPT TO:<...@foreign domain> → {rcpt.line}", places=(place(h),))


def _greeting(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    if h.smtp is None:
        return
    where, host = place(h), host_of(h)
    if h.smtp.greeting_masked:
        yield finding(k.GREETING_MASKED, host, f"{h.greeting_code} {h.banner}", places=(where,))
    announced = h.smtp.greeting_host
    if (
        announced
        and h.target.service is Service.SMTP
        and h.target.origin in ("mx", "implicit-mx")
        and announced.rstrip(".").lower() != h.target.host.rstrip(".").lower()
    ):
        evidence = f"greeting says {announced!r}, MX name is {h.target.host!r}"
        yield finding(k.BANNER_HOST_MISMATCH, host, evidence, places=(where,))


def _greeting_ptr(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    """The 220 greeting name against the PTR of the address it came from (needs DNS and handshakes)."""
    ptr = {address: name for d in report.dns for mx in d.mx for address, name in mx.ptr if name}
    announced = (h.smtp.greeting_host if h.smtp is not None else "").rstrip(".").lower()
    reverse = ptr.get(h.target.address, "").rstrip(".").lower()
    if announced and reverse and announced != reverse:
        evidence = f"greeting says {announced!r}, PTR of {h.target.address} says {reverse!r}"
        yield finding(k.BANNER_PTR_MISMATCH, host_of(h), evidence, places=(place(h),))


def _pop3_expire(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    if h.pop3 is not None and h.pop3.expire == "0":
        caps = h.capabilities_after or h.capabilities_before
        yield finding(k.POP3_DELETES, host_of(h), f"CAPA: {_quote(caps, 'EXPIRE')}", places=(place(h),))


CHECKS: tuple[Check[HandshakeResult], ...] = (
    Check("session", Category.SMTP, handshakes, place, _session, category_of),
    Check("starttls", Category.SMTP, greeted, place, _starttls, category_of),
    Check("plaintext-auth", Category.SMTP, greeted, place, _plaintext_auth, category_of),
    Check("imap-preauth", Category.IMAP, of_protocol(Protocol.IMAP), place, _preauth),
    Check("submission-requires-tls", Category.SMTP, of_service(Service.SUBMISSION), place, _submission_requires_tls),
    Check("smtp-address-leaks", Category.SMTP, of_service(Service.SMTP, Service.SUBMISSION), place, _address_leaks),
    Check("smtp-open-relay", Category.SMTP, relay_tested, place, _open_relay),
    Check("smtp-greeting", Category.SMTP, of_protocol(Protocol.SMTP), place, _greeting),
    Check("smtp-greeting-ptr", Category.DNS, of_protocol(Protocol.SMTP), place, _greeting_ptr),
    Check("pop3-expire", Category.POP3, of_protocol(Protocol.POP3), place, _pop3_expire),
)
