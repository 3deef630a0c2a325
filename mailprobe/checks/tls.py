"""Findings from TLS sessions: certificate validity, trust, names, keys and protocol versions. Pure functions."""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import define, finding
from mailprobe.checks.handshake import _label
from mailprobe.model import Finding, HandshakeResult, Severity
from mailprobe.protocols.tls import WEAK_KEY_BITS

EXPIRING_DAYS = 21  # Let's Encrypt renews at 30 days left; under 21 something is wrong with renewal

CERT_EXPIRED = define(
    "TLS-CERT-EXPIRED",
    Severity.HIGH,
    "Certificate has expired",
    "Clients that verify certificates (MTA-STS, DANE, every mail client) refuse the connection.",
    "Renew the certificate and reload the server; automate renewal (ACME).",
)
CERT_NOT_YET_VALID = define(
    "TLS-CERT-NOT-YET-VALID",
    Severity.HIGH,
    "Certificate is not valid yet",
    "The certificate's notBefore is in the future: the server's or the client's clock is wrong, or the "
    "wrong certificate is installed.",
    "Check the server's clock and the installed certificate.",
)
CERT_EXPIRING = define(
    "TLS-CERT-EXPIRING",
    Severity.MEDIUM,
    f"Certificate expires in less than {EXPIRING_DAYS} days",
    "Automated renewal normally replaces a certificate 30 days before expiry; this one is late.",
    "Renew the certificate now and check why automation did not.",
)
HOSTNAME_MISMATCH = define(
    "TLS-HOSTNAME-MISMATCH",
    Severity.HIGH,
    "Certificate does not match the host name",
    "The certificate's names do not include the host name probed (the MX name for MX targets); verifying "
    "clients refuse it.",
    "Serve a certificate whose subjectAltName lists this host name.",
)
CERT_UNTRUSTED = define(
    "TLS-CERT-UNTRUSTED",
    Severity.HIGH,
    "Certificate chain is not trusted",
    "The chain does not lead to a trusted root (system store plus --ca-file): verifying clients refuse it.",
    "Install a certificate from a public CA and serve the full chain (leaf plus intermediates).",
)
CERT_SELF_SIGNED = define(
    "TLS-CERT-SELF-SIGNED",
    Severity.MEDIUM,
    "Certificate is self-signed",
    "A self-signed certificate protects only against passive eavesdropping; nobody can verify it.",
    "Use a certificate from a public CA (ACME / Let's Encrypt is free).",
)
WEAK_KEY = define(
    "TLS-WEAK-KEY",
    Severity.HIGH,
    "Certificate key is too small",
    "Keys below RSA 2048 / EC 224 bits can be broken or are refused by modern clients.",
    "Issue a new certificate with an RSA 2048+ or EC P-256 key.",
)
LEGACY_TLS = define(
    "TLS-LEGACY-VERSION",
    Severity.MEDIUM,
    "Server still accepts TLS 1.0/1.1",
    "TLS 1.0 and 1.1 are deprecated (RFC 8996) and have known weaknesses.",
    "Set the minimum protocol to TLS 1.2 (Postfix: smtpd_tls_protocols = >=TLSv1.2; Dovecot: "
    "ssl_min_protocol = TLSv1.2).",
)
OLD_TLS_NEGOTIATED = define(
    "TLS-OLD-VERSION",
    Severity.HIGH,
    "Server negotiated a TLS version below 1.2",
    "Even a modern client ended up with a deprecated protocol version.",
    "Enable TLS 1.2 and 1.3 on the server.",
)
WEAK_CIPHER = define(
    "TLS-WEAK-CIPHER",
    Severity.MEDIUM,
    "Weak cipher negotiated",
    "The negotiated cipher has fewer than 128 bits of strength or uses RC4/3DES/NULL/EXPORT.",
    "Restrict the server to AEAD ciphers (AES-GCM, ChaCha20-Poly1305).",
)


def check_tls(h: HandshakeResult) -> Iterator[Finding]:
    tls = h.tls
    if tls is None or tls.leaf is None:
        return
    where = _label(h)
    leaf = tls.leaf
    if leaf.days_left < 0:
        yield finding(CERT_EXPIRED, where, f"notAfter {leaf.not_after} ({-leaf.days_left} days ago)")
    elif leaf.days_left < EXPIRING_DAYS:
        yield finding(CERT_EXPIRING, where, f"notAfter {leaf.not_after} ({leaf.days_left} days left)")
    if tls.verify_error and "not yet valid" in tls.verify_error:
        yield finding(CERT_NOT_YET_VALID, where, f"notBefore {leaf.not_before}")
    if not tls.hostname_match:
        names = ", ".join(leaf.san) or leaf.subject
        yield finding(HOSTNAME_MISMATCH, where, f"probed {tls.hostname!r}; certificate names: {names}")
    if leaf.self_signed:
        yield finding(CERT_SELF_SIGNED, where, f"subject = issuer = {leaf.subject}")
    elif not tls.verified and leaf.days_left >= 0:
        yield finding(CERT_UNTRUSTED, where, f"{tls.verify_error}; issuer {leaf.issuer}")
    minimum = WEAK_KEY_BITS.get(leaf.key_type)
    if minimum is not None and leaf.key_bits < minimum:
        yield finding(WEAK_KEY, where, f"{leaf.key_type} {leaf.key_bits} bits")
    if tls.legacy_versions:
        yield finding(LEGACY_TLS, where, "accepted: " + ", ".join(tls.legacy_versions))
    if tls.version in ("SSLv3", "TLSv1", "TLSv1.1"):
        yield finding(OLD_TLS_NEGOTIATED, where, f"negotiated {tls.version}")
    cipher = tls.cipher.upper()
    if (tls.cipher_bits and tls.cipher_bits < 128) or any(
        w in cipher for w in ("RC4", "3DES", "DES-CBC", "NULL", "EXP")
    ):
        yield finding(WEAK_CIPHER, where, f"{tls.cipher} ({tls.cipher_bits} bits)")
