"""Findings about TLS sessions, certificates and DANE matching. Definitions only; the logic is in mailprobe.checks."""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

EXPIRING_DAYS = 21  # Let's Encrypt renews at 30 days left; under 21 something is wrong with renewal

DANE_MISMATCH = define(
    "DANE-MISMATCH", Severity.CRITICAL, Category.TLS, "Certificate does not match the TLSA records (DANE)",
    "The MX publishes TLSA records but the certificate served on port 25 matches none: DANE-validating "
    "senders (Postfix, Exim with DNSSEC, large providers) refuse to deliver. A certificate renewed without "
    "updating TLSA is the usual cause.",
    "Publish a TLSA record for the new key (3 1 1 is robust across renewals that keep the key), then roll over.",
    "_25._tcp.mx.example.test. TLSA 3 1 1 <sha256 of the SPKI>",
)  # fmt: skip

DANE_NO_TLS = define(
    "DANE-NO-TLS", Severity.HIGH, Category.TLS, "TLSA records published but no TLS on port 25",
    "DANE requires STARTTLS: validating senders refuse to deliver in plaintext to a host with TLSA records.",
    "Enable STARTTLS on port 25 (or withdraw the TLSA records).",
)  # fmt: skip

STARTTLS_REFUSED = define(
    "STARTTLS-REFUSED",
    Severity.HIGH,
    Category.TLS,
    "STARTTLS advertised but refused",
    "The server offers TLS and then refuses it: clients that insist on TLS fail, others fall back to clear text.",
    "Fix the server's TLS configuration (certificate and key readable, TLS library loaded).",
    "C: STARTTLS\nS: 454 4.7.0 TLS not available due to local problem",
)

TLS_HANDSHAKE_FAILED = define(
    "TLS-HANDSHAKE-FAILED",
    Severity.HIGH,
    Category.TLS,
    "TLS handshake failed",
    "The server agreed to TLS (or listens on an implicit-TLS port) but no TLS session could be set up.",
    "Check the certificate, key and protocol settings; look at the server log for the handshake error.",
)

STARTTLS_INJECTION = define(
    "STARTTLS-INJECTION",
    Severity.HIGH,
    Category.TLS,
    "Server sent bytes after agreeing to STARTTLS",
    "Bytes that arrive between the STARTTLS reply and the TLS handshake can be injected by an attacker and "
    "would be taken as encrypted replies by a vulnerable client (CVE-2011-0411 class). mailprobe discarded them.",
    "Update the server (or the middlebox in front of it); it must send nothing until the TLS handshake.",
)

NO_TLS_PORT = define(
    "TLS-PLAINTEXT-ON-TLS-PORT",
    Severity.HIGH,
    Category.TLS,
    "Implicit-TLS port speaks plaintext",
    "A port that should start with TLS (465, 993, 995) answers in clear text.",
    "Configure the service on this port for implicit TLS (Postfix: smtpd_tls_wrappermode = yes).",
)

CERT_EXPIRED = define(
    "TLS-CERT-EXPIRED",
    Severity.HIGH,
    Category.TLS,
    "Certificate has expired",
    "Clients that verify certificates (MTA-STS, DANE, every mail client) refuse the connection.",
    "Renew the certificate and reload the server; automate renewal (ACME).",
)

CERT_NOT_YET_VALID = define(
    "TLS-CERT-NOT-YET-VALID",
    Severity.HIGH,
    Category.TLS,
    "Certificate is not valid yet",
    "The certificate's notBefore is in the future: the server's or the client's clock is wrong, or the "
    "wrong certificate is installed.",
    "Check the server's clock and the installed certificate.",
)

CERT_EXPIRING = define(
    "TLS-CERT-EXPIRING",
    Severity.MEDIUM,
    Category.TLS,
    f"Certificate expires in less than {EXPIRING_DAYS} days",
    "Automated renewal normally replaces a certificate 30 days before expiry; this one is late.",
    "Renew the certificate now and check why automation did not.",
)

HOSTNAME_MISMATCH = define(
    "TLS-HOSTNAME-MISMATCH",
    Severity.HIGH,
    Category.TLS,
    "Certificate does not match the host name",
    "The certificate's names do not include the host name probed (the MX name for MX targets); verifying "
    "clients refuse it.",
    "Serve a certificate whose subjectAltName lists this host name.",
)

CERT_UNTRUSTED = define(
    "TLS-CERT-UNTRUSTED",
    Severity.HIGH,
    Category.TLS,
    "Certificate chain is not trusted",
    "The chain does not lead to a trusted root (system store plus --ca-file): verifying clients refuse it.",
    "Install a certificate from a public CA and serve the full chain (leaf plus intermediates).",
)

CERT_SELF_SIGNED = define(
    "TLS-CERT-SELF-SIGNED",
    Severity.MEDIUM,
    Category.TLS,
    "Certificate is self-signed",
    "A self-signed certificate protects only against passive eavesdropping; nobody can verify it.",
    "Use a certificate from a public CA (ACME / Let's Encrypt is free).",
)

WEAK_KEY = define(
    "TLS-WEAK-KEY",
    Severity.HIGH,
    Category.TLS,
    "Certificate key is too small",
    "Keys below RSA 2048 / EC 224 bits can be broken or are refused by modern clients.",
    "Issue a new certificate with an RSA 2048+ or EC P-256 key.",
)

LEGACY_TLS = define(
    "TLS-LEGACY-VERSION",
    Severity.MEDIUM,
    Category.TLS,
    "Server still accepts TLS 1.0/1.1",
    "TLS 1.0 and 1.1 are deprecated (RFC 8996) and have known weaknesses. Low on port 25, where TLS is "
    "opportunistic: a sender that cannot do TLS 1.2 may then fall back to plaintext (RFC 3207 allows it).",
    "Set the minimum protocol to TLS 1.2 (Postfix: smtpd_tls_protocols = >=TLSv1.2; Dovecot: "
    "ssl_min_protocol = TLSv1.2).",
)

OLD_TLS_NEGOTIATED = define(
    "TLS-OLD-VERSION",
    Severity.HIGH,
    Category.TLS,
    "Server negotiated a TLS version below 1.2",
    "Even a modern client ended up with a deprecated protocol version.",
    "Enable TLS 1.2 and 1.3 on the server.",
)

WEAK_CIPHER = define(
    "TLS-WEAK-CIPHER",
    Severity.MEDIUM,
    Category.TLS,
    "Weak cipher negotiated",
    "The negotiated cipher has fewer than 128 bits of strength or uses RC4/3DES/NULL/EXPORT.",
    "Restrict the server to AEAD ciphers (AES-GCM, ChaCha20-Poly1305).",
)

DANE_EE_AUTHENTICATES = define(
    "TLS-DANE-EE-AUTHENTICATED", Severity.INFO, Category.TLS,
    "DANE-EE authenticates this server: its certificate's names, dates and issuer do not matter",
    "The MX publishes DNSSEC-signed DANE-EE (usage 3) TLSA records and the key served matches one. RFC 7672 "
    "3.1.1: DANE senders then ignore the certificate's names, validity dates and issuer, so what a PKIX check "
    "would flag (listed in the evidence) does not hinder delivery from them.",
    "Nothing to do for DANE senders. For senders without DANE (opportunistic TLS) it does not matter either.",
)  # fmt: skip
LEGACY_NOT_JUDGED = define(
    "TLS-LEGACY-NOT-JUDGED", Severity.INFO, Category.TLS,
    "TLS 1.0/1.1 not judged: their test handshakes did not conclude or could not be made",
    "mailprobe tests TLS 1.0 and 1.1 in separate handshakes beside the session. These neither succeeded nor "
    "were refused by the server (a timeout, or the connection or dialogue failed first), or were not tried "
    "because the OpenSSL mailprobe runs with cannot offer them (its build or a system crypto policy), so "
    "whether the server still accepts them is not known.",
    "Run again, with a longer --timeout if the server is slow; where the evidence says this machine's OpenSSL "
    "cannot offer them, from a machine whose OpenSSL can.",
)  # fmt: skip
NAME_NOT_JUDGED = define(
    "TLS-NAME-NOT-JUDGED", Severity.INFO, Category.TLS,
    "Certificate name not judged: the name clients connect to is not known",
    "Mail clients check the certificate against the server name in their settings. This port was reached "
    "through an MX name or an address, which need not be that name, so a certificate naming another host is "
    "not a fault here.",
    "Run `mailprobe handshake NAME` with the name clients use (or --servername NAME) to judge it.",
)  # fmt: skip
