"""Findings from protocol handshakes: what the dialogue shows a server doing wrong. Pure functions."""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import define, finding
from mailprobe.model import (
    Finding,
    HandshakeResult,
    ProbeStatus,
    Protocol,
    Report,
    Service,
    Severity,
    StartTlsOutcome,
)

SMTP_NO_STARTTLS = define(
    "SMTP-NO-STARTTLS",
    Severity.HIGH,
    "SMTP server does not offer STARTTLS",
    "Without STARTTLS every message and any password crosses the network in clear text; receivers and "
    "senders that require TLS (MTA-STS, DANE) cannot deliver.",
    "Enable STARTTLS with a valid certificate (Postfix: smtpd_tls_security_level = may, smtpd_tls_chain_files).",
    "S: 250-mx.example.org\nS: 250 SIZE 10240000      (no STARTTLS line)",
)
POP3_NO_STLS = define(
    "POP3-NO-STLS",
    Severity.HIGH,
    "POP3 server does not offer STLS",
    "Clients on port 110 must log in without encryption.",
    "Enable STLS (Dovecot: ssl = yes) or close 110 and serve POP3 only on 995.",
)
IMAP_NO_STARTTLS = define(
    "IMAP-NO-STARTTLS",
    Severity.HIGH,
    "IMAP server does not offer STARTTLS",
    "Clients on port 143 must log in without encryption.",
    "Enable STARTTLS (Dovecot: ssl = yes) or close 143 and serve IMAP only on 993.",
)
STARTTLS_REFUSED = define(
    "STARTTLS-REFUSED",
    Severity.HIGH,
    "STARTTLS advertised but refused",
    "The server offers TLS and then refuses it: clients that insist on TLS fail, others fall back to clear text.",
    "Fix the server's TLS configuration (certificate and key readable, TLS library loaded).",
    "C: STARTTLS\nS: 454 4.7.0 TLS not available due to local problem",
)
TLS_HANDSHAKE_FAILED = define(
    "TLS-HANDSHAKE-FAILED",
    Severity.HIGH,
    "TLS handshake failed",
    "The server agreed to TLS (or listens on an implicit-TLS port) but no TLS session could be set up.",
    "Check the certificate, key and protocol settings; look at the server log for the handshake error.",
)
AUTH_BEFORE_TLS = define(
    "AUTH-BEFORE-TLS",
    Severity.MEDIUM,
    "Authentication offered before TLS",
    "The server advertises AUTH on an unencrypted connection, inviting clients to send passwords in clear text.",
    "Offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only = yes).",
    "S: 250-AUTH PLAIN LOGIN     (before STARTTLS)",
)
POP3_PLAINTEXT_LOGIN = define(
    "POP3-PLAINTEXT-LOGIN",
    Severity.HIGH,
    "POP3 offers USER/PLAIN login before TLS",
    "Passwords can be sent in clear text on port 110.",
    "Disable plaintext authentication before TLS (Dovecot: disable_plaintext_auth = yes / auth_allow_cleartext = no).",
)
IMAP_PLAINTEXT_LOGIN = define(
    "IMAP-PLAINTEXT-LOGIN",
    Severity.HIGH,
    "IMAP allows LOGIN before TLS",
    "Without LOGINDISABLED before STARTTLS, clients may send passwords in clear text on port 143.",
    "Disable plaintext authentication before TLS (Dovecot: disable_plaintext_auth = yes).",
    "S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN     (no LOGINDISABLED)",
)
IMAP_PREAUTH = define(
    "IMAP-PREAUTH",
    Severity.CRITICAL,
    "IMAP greets with PREAUTH",
    "The server logs the client in without credentials: anyone who connects gets a mailbox.",
    "Never greet with PREAUTH on a network port; require authentication.",
    "S: * PREAUTH IMAP4rev1 server logged in as mail",
)
STARTTLS_INJECTION = define(
    "STARTTLS-INJECTION",
    Severity.HIGH,
    "Server sent bytes after agreeing to STARTTLS",
    "Bytes that arrive between the STARTTLS reply and the TLS handshake can be injected by an attacker and "
    "would be taken as encrypted replies by a vulnerable client (CVE-2011-0411 class). mailprobe discarded them.",
    "Update the server (or the middlebox in front of it); it must send nothing until the TLS handshake.",
)
SUBMISSION_TLS_NOT_REQUIRED = define(
    "SUBMISSION-TLS-NOT-REQUIRED",
    Severity.HIGH,
    "Submission accepts MAIL before TLS",
    "On port 587 a client should not be able to start a message before STARTTLS (RFC 8314); the server "
    "answered MAIL FROM positively in clear text.",
    "Require TLS on submission (Postfix master.cf: -o smtpd_tls_security_level=encrypt).",
    "C: MAIL FROM:<>\nS: 250 2.1.0 Ok     (should be 530 5.7.0 Must issue a STARTTLS command first)",
)
SMTP_VRFY = define(
    "SMTP-VRFY-ENABLED",
    Severity.LOW,
    "VRFY confirms mailboxes",
    "VRFY answers with 250/251, letting anyone test which addresses exist.",
    "Disable VRFY (Postfix: disable_vrfy_command = yes).",
)
SMTP_EXPN = define(
    "SMTP-EXPN-ENABLED",
    Severity.LOW,
    "EXPN expands lists",
    "EXPN reveals the members of mailing lists and aliases.",
    "Disable EXPN.",
)
SMTP_OPEN_RELAY = define(
    "SMTP-OPEN-RELAY",
    Severity.CRITICAL,
    "Open relay: accepted a recipient in a foreign domain",
    "The server accepted RCPT for a domain it does not serve without authentication: spammers will use it and "
    "it will be blocklisted.",
    "Restrict relaying to authenticated clients and your own networks (Postfix: smtpd_relay_restrictions).",
    "C: MAIL FROM:<>\nC: RCPT TO:<test@elsewhere.example>\nS: 250 2.1.5 Ok",
)
SERVICE_UNAVAILABLE = define(
    "SERVICE-UNAVAILABLE",
    Severity.HIGH,
    "Server refused service at the greeting",
    "The server answered with a refusal (421/554, -ERR, BYE) instead of a greeting.",
    "Check the server's load limits, access rules and whether the client's address is blocked.",
)
PROTOCOL_ERROR = define(
    "PROTOCOL-ERROR",
    Severity.HIGH,
    "Server does not speak the expected protocol",
    "What came back is not a valid reply of the protocol for this port (or exceeded sane limits).",
    "Check which program listens on this port; a proxy or a wrong service mapping is common.",
)
HANDSHAKE_FAILED = define(
    "HANDSHAKE-FAILED",
    Severity.HIGH,
    "Handshake did not complete",
    "The port accepted a connection but the dialogue did not complete (timeout or closed).",
    "Check the server log; slow greetings and early disconnects often mean overload or a blocking filter.",
)
BANNER_HOST_MISMATCH = define(
    "SMTP-BANNER-MISMATCH",
    Severity.LOW,
    "SMTP greeting names another host",
    "The host name in the 220 greeting differs from the name probed (the MX name); receivers compare them "
    "and some spam filters count it against you.",
    "Set the greeting host name to the server's public name (Postfix: myhostname).",
)
NO_TLS_PORT = define(
    "TLS-PLAINTEXT-ON-TLS-PORT",
    Severity.HIGH,
    "Implicit-TLS port speaks plaintext",
    "A port that should start with TLS (465, 993, 995) answers in clear text.",
    "Configure the service on this port for implicit TLS (Postfix: smtpd_tls_wrappermode = yes).",
)

_NO_TLS = {Protocol.SMTP: SMTP_NO_STARTTLS, Protocol.POP3: POP3_NO_STLS, Protocol.IMAP: IMAP_NO_STARTTLS}


def _label(h: HandshakeResult) -> str:
    host = h.target.address if h.target.host == h.target.address else f"{h.target.host} [{h.target.address}]"
    return f"{host}:{h.target.port}/{h.target.service.value}"


def _vrfy_answers(reply: str, h: HandshakeResult) -> bool:
    """250/251 confirm a mailbox. 252 is "cannot verify, will accept" (RFC 5321 3.5.3) from servers that refuse
    to tell, but a server that advertises VRFY (Postfix with disable_vrfy_command = no) answers 252 for the
    addresses it knows, so there 252 means enabled too."""
    code = reply[:3]
    advertised = any(c.keyword == "VRFY" for c in (*h.capabilities_before, *h.capabilities_after))
    return code in ("250", "251") or (code == "252" and advertised)


def _positive(reply: str | None) -> bool:
    return reply is not None and reply[:1] in ("2", "3")


def check_handshake(h: HandshakeResult) -> Iterator[Finding]:
    where = _label(h)
    protocol = h.target.service.protocol
    if h.status is ProbeStatus.SERVICE_UNAVAILABLE:
        yield finding(SERVICE_UNAVAILABLE, where, h.reason)
    elif h.status in (ProbeStatus.PROTOCOL_ERROR, ProbeStatus.LIMIT_EXCEEDED):
        if h.target.service.implicit_tls and "plaintext" in h.reason:
            yield finding(NO_TLS_PORT, where, h.reason)
        else:
            yield finding(PROTOCOL_ERROR, where, h.reason)
    elif h.status is ProbeStatus.TLS_HANDSHAKE_ERROR:
        kind = NO_TLS_PORT if "plaintext" in h.reason else TLS_HANDSHAKE_FAILED
        yield finding(kind, where, h.reason)
    elif h.status not in (ProbeStatus.SUCCESS, ProbeStatus.SKIPPED):
        yield finding(HANDSHAKE_FAILED, where, f"{h.status.value}: {h.reason}")

    if h.starttls is StartTlsOutcome.NOT_OFFERED and h.greeting_code:
        caps = " ".join(c.keyword for c in h.capabilities_before) or "(none)"
        yield finding(_NO_TLS[protocol], where, f"capabilities: {caps}")
    if h.starttls is StartTlsOutcome.REFUSED:
        yield finding(STARTTLS_REFUSED, where, h.starttls_reply)
    if h.injected_bytes:
        yield finding(STARTTLS_INJECTION, where, f"{h.injected_bytes} bytes arrived before the TLS handshake")
    if h.fact("preauth"):
        yield finding(IMAP_PREAUTH, where, f"{h.greeting_code} {h.banner}")

    if h.auth_before_tls and protocol is Protocol.SMTP:
        severity = Severity.HIGH if h.target.service is Service.SUBMISSION else None
        yield finding(AUTH_BEFORE_TLS, where, "AUTH " + " ".join(h.auth_before_tls), severity=severity)
    if h.plaintext_login_before_tls and protocol is Protocol.POP3:
        offered = ["USER"] if any(c.keyword == "USER" for c in h.capabilities_before) else []
        yield finding(POP3_PLAINTEXT_LOGIN, where, " ".join([*offered, "SASL", *h.auth_before_tls]).strip())
    if h.plaintext_login_before_tls and protocol is Protocol.IMAP and h.greeting_code:
        caps = " ".join(c.raw for c in h.capabilities_before)
        yield finding(IMAP_PLAINTEXT_LOGIN, where, f"CAPABILITY {caps}")

    mail = h.fact("mail_before_tls")
    if mail and _positive(mail):
        yield finding(SUBMISSION_TLS_NOT_REQUIRED, where, f"MAIL FROM:<> → {mail}")
    vrfy = h.fact("vrfy")
    if vrfy and _vrfy_answers(vrfy, h):
        yield finding(SMTP_VRFY, where, f"VRFY postmaster → {vrfy}")
    expn = h.fact("expn")
    if expn and expn[:3] in ("250", "251"):
        yield finding(SMTP_EXPN, where, f"EXPN postmaster → {expn}")
    relay = h.fact("relay_test")
    if relay and _positive(relay):
        yield finding(SMTP_OPEN_RELAY, where, f"RCPT TO:<...@foreign domain> → {relay}")

    announced = h.fact("greeting_host")
    if (
        protocol is Protocol.SMTP
        and announced
        and h.target.origin in ("mx", "implicit-mx")
        and announced.rstrip(".").lower() != h.target.host.rstrip(".").lower()
    ):
        yield finding(BANNER_HOST_MISMATCH, where, f"greeting says {announced!r}, MX name is {h.target.host!r}")


BANNER_PTR_MISMATCH = define(
    "SMTP-BANNER-PTR-MISMATCH",
    Severity.LOW,
    "SMTP greeting name differs from the address's PTR",
    "Receivers compare the greeting (and EHLO) name with the reverse DNS of the sending address; a mismatch "
    "is a common spam signal.",
    "Make the greeting name, the PTR record and the A/AAAA record agree (forward-confirmed reverse DNS).",
)
POP3_DELETES = define(
    "POP3-EXPIRE-ZERO",
    Severity.INFO,
    "POP3 server deletes mail after download",
    "CAPA says EXPIRE 0: messages are removed as soon as a client downloads them (RFC 2449 6.7), so "
    "a second device never sees them.",
    "If users read mail on several devices, use IMAP or raise the expiry policy.",
)


def check_banner_ptr(report: Report) -> Iterator[Finding]:
    """The 220 greeting name against the PTR of the address it came from (needs DNS and handshakes)."""
    ptr = {address: name for d in report.dns for mx in d.mx for address, name in mx.ptr if name}
    for h in report.handshakes:
        announced = (h.fact("greeting_host") or "").rstrip(".").lower()
        reverse = ptr.get(h.target.address, "").rstrip(".").lower()
        if h.target.service.protocol is Protocol.SMTP and announced and reverse and announced != reverse:
            yield finding(BANNER_PTR_MISMATCH, _label(h), f"greeting says {announced!r}, PTR says {reverse!r}")


def check_pop3_expire(h: HandshakeResult) -> Iterator[Finding]:
    if h.target.service.protocol is Protocol.POP3 and h.fact("expire") == "0":
        yield finding(POP3_DELETES, _label(h), "CAPA: EXPIRE 0")
