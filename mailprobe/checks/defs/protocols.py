"""Findings about SMTP, POP3 and IMAP dialogues. Definitions only; the logic is in mailprobe.checks."""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

SMTP_NO_STARTTLS = define(
    "SMTP-NO-STARTTLS",
    Severity.HIGH,
    Category.SMTP,
    "SMTP server does not offer STARTTLS",
    "Without STARTTLS every message and any password crosses the network in clear text; receivers and "
    "senders that require TLS (MTA-STS, DANE) cannot deliver.",
    "Enable STARTTLS with a valid certificate (Postfix: smtpd_tls_security_level = may, smtpd_tls_chain_files).",
    "S: 250-mx.example.org\nS: 250 SIZE 10240000      (no STARTTLS line)",
)

POP3_NO_STLS = define(
    "POP3-NO-STLS",
    Severity.HIGH,
    Category.POP3,
    "POP3 server does not offer STLS",
    "Clients on port 110 must log in without encryption.",
    "Enable STLS (Dovecot: ssl = yes) or close 110 and serve POP3 only on 995.",
)

IMAP_NO_STARTTLS = define(
    "IMAP-NO-STARTTLS",
    Severity.HIGH,
    Category.IMAP,
    "IMAP server does not offer STARTTLS",
    "Clients on port 143 must log in without encryption.",
    "Enable STARTTLS (Dovecot: ssl = yes) or close 143 and serve IMAP only on 993.",
)

AUTH_BEFORE_TLS = define(
    "AUTH-BEFORE-TLS",
    Severity.MEDIUM,
    Category.SMTP,
    "Authentication offered before TLS",
    "The server advertises AUTH on an unencrypted connection, inviting clients to send passwords in clear text.",
    "Offer AUTH only after STARTTLS (Postfix: smtpd_tls_auth_only = yes).",
    "S: 250-AUTH PLAIN LOGIN     (before STARTTLS)",
)

POP3_PLAINTEXT_LOGIN = define(
    "POP3-PLAINTEXT-LOGIN",
    Severity.HIGH,
    Category.POP3,
    "POP3 offers USER/PLAIN login before TLS",
    "Passwords can be sent in clear text on port 110.",
    "Disable plaintext authentication before TLS (Dovecot: disable_plaintext_auth = yes / auth_allow_cleartext = no).",
)

IMAP_PLAINTEXT_LOGIN = define(
    "IMAP-PLAINTEXT-LOGIN",
    Severity.HIGH,
    Category.IMAP,
    "IMAP allows LOGIN before TLS",
    "Without LOGINDISABLED before STARTTLS, clients may send passwords in clear text on port 143.",
    "Disable plaintext authentication before TLS (Dovecot: disable_plaintext_auth = yes).",
    "S: * CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN     (no LOGINDISABLED)",
)

IMAP_PREAUTH = define(
    "IMAP-PREAUTH",
    Severity.CRITICAL,
    Category.IMAP,
    "IMAP greets with PREAUTH",
    "The server logs the client in without credentials: anyone who connects gets a mailbox.",
    "Never greet with PREAUTH on a network port; require authentication.",
    "S: * PREAUTH IMAP4rev1 server logged in as mail",
)

SUBMISSION_TLS_NOT_REQUIRED = define(
    "SUBMISSION-TLS-NOT-REQUIRED",
    Severity.HIGH,
    Category.SMTP,
    "Submission accepts MAIL before TLS",
    "On port 587 a client should not be able to start a message before STARTTLS (RFC 8314); the server "
    "answered MAIL FROM positively in clear text.",
    "Require TLS on submission (Postfix master.cf: -o smtpd_tls_security_level=encrypt).",
    "C: MAIL FROM:<>\nS: 250 2.1.0 Ok     (should be 530 5.7.0 Must issue a STARTTLS command first)",
)

SMTP_VRFY = define(
    "SMTP-VRFY-ENABLED",
    Severity.LOW,
    Category.SMTP,
    "VRFY confirms mailboxes",
    "VRFY answers with 250/251, letting anyone test which addresses exist.",
    "Disable VRFY (Postfix: disable_vrfy_command = yes).",
)

SMTP_EXPN = define(
    "SMTP-EXPN-ENABLED",
    Severity.LOW,
    Category.SMTP,
    "EXPN expands lists",
    "EXPN reveals the members of mailing lists and aliases.",
    "Disable EXPN.",
)

SMTP_OPEN_RELAY = define(
    "SMTP-OPEN-RELAY",
    Severity.CRITICAL,
    Category.SMTP,
    "Open relay: accepted a recipient in a foreign domain",
    "The server accepted RCPT for a domain it does not serve without authentication: spammers will use it and "
    "it will be blocklisted.",
    "Restrict relaying to authenticated clients and your own networks (Postfix: smtpd_relay_restrictions).",
    "C: MAIL FROM:<>\nC: RCPT TO:<test@elsewhere.example>\nS: 250 2.1.5 Ok",
)

SERVICE_UNAVAILABLE = define(
    "SERVICE-UNAVAILABLE",
    Severity.HIGH,
    Category.SMTP,
    "Server refused service at the greeting",
    "The server answered with a refusal (421/554, -ERR, BYE) instead of a greeting.",
    "Check the server's load limits, access rules and whether the client's address is blocked.",
)

PROTOCOL_ERROR = define(
    "PROTOCOL-ERROR",
    Severity.HIGH,
    Category.SMTP,
    "Server does not speak the expected protocol",
    "What came back is not a valid reply of the protocol for this port (or exceeded sane limits).",
    "Check which program listens on this port; a proxy or a wrong service mapping is common.",
)

HANDSHAKE_FAILED = define(
    "HANDSHAKE-FAILED",
    Severity.HIGH,
    Category.SMTP,
    "Handshake did not complete",
    "The port accepted a connection but the dialogue did not complete (timeout or closed).",
    "Check the server log; slow greetings and early disconnects often mean overload or a blocking filter.",
)

BANNER_HOST_MISMATCH = define(
    "SMTP-BANNER-MISMATCH",
    Severity.INFO,
    Category.SMTP,
    "SMTP greeting names another host than the MX",
    "The 220 greeting names a host other than the MX name it was reached through. This is normal for hosted "
    "mail and shared hosting (a customer's MX at a provider greets with the provider's name) and harmless for "
    "delivery; it matters only where you expected your own server to answer.",
    "Nothing to do for hosted mail; on your own server, set the greeting name to its public name (Postfix: "
    "myhostname).",
)

BANNER_PTR_MISMATCH = define(
    "SMTP-BANNER-PTR-MISMATCH",
    Severity.LOW,
    Category.SMTP,
    "SMTP greeting name differs from the address's PTR",
    "Receivers compare the greeting (and EHLO) name with the reverse DNS of the sending address; a mismatch "
    "is a common spam signal.",
    "Make the greeting name, the PTR record and the A/AAAA record agree (forward-confirmed reverse DNS).",
)

POP3_DELETES = define(
    "POP3-EXPIRE-ZERO",
    Severity.INFO,
    Category.POP3,
    "POP3 server deletes mail after download",
    "CAPA says EXPIRE 0: messages are removed as soon as a client downloads them (RFC 2449 6.7), so "
    "a second device never sees them.",
    "If users read mail on several devices, use IMAP or raise the expiry policy.",
)

STARTTLS_MASKED = define(
    "SMTP-STARTTLS-MASKED",
    Severity.HIGH,
    Category.SMTP,
    "A firewall removes STARTTLS (XXXXXXXA in the EHLO reply)",
    "An inspecting firewall between mailprobe and the server (Cisco ASA/PIX ESMTP inspection is the classic) "
    "replaced STARTTLS in the server's EHLO reply with XXXXXXXA: no client can upgrade to TLS through it, so "
    "mail crosses that path in clear text and TLS-requiring senders cannot deliver.",
    "Turn off ESMTP inspection on the firewall in front of the server or of this network (ASA: `no inspect esmtp`).",
    "S: 250-XXXXXXXA     (where the server sent 250-STARTTLS)",
)
GREETING_MASKED = define(
    "SMTP-GREETING-MASKED",
    Severity.LOW,
    Category.SMTP,
    "The SMTP greeting is masked with asterisks",
    "The 220 greeting's text is asterisks: the default of Cisco ASA/PIX ESMTP inspection (banner obfuscation), "
    "so a firewall on the path rewrites this dialogue. The same firewall usually removes STARTTLS too.",
    "Turn off ESMTP inspection (or its banner obfuscation) on the firewall in front of the server.",
    "S: 220 ****************************************",
)
