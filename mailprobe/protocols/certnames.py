"""Judging certificate facts already extracted: host-name match (RFC 6125) and weak key sizes. Pure.

Apart from mailprobe.protocols.tls, which parses and verifies chains with cryptography and pyOpenSSL, so the
checks can judge a report without importing either.
"""

from __future__ import annotations

import ipaddress

from mailprobe.model import CertFacts

# Keys below these sizes are weak (NIST SP 800-57 / BSI): RSA/DSA 2048, EC 224.
WEAK_KEY_BITS = {"RSA": 2048, "DSA": 2048, "EC": 224}


def _name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4.3: a wildcard only as the whole left-most label, matching exactly one label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern == host:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    head, _, rest = host.partition(".")
    return bool(head) and rest == pattern[2:] and rest.count(".") >= 1


def hostname_matches(cert: CertFacts, host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return f"IP:{ip}" in cert.san
    dns_names = [name[4:] for name in cert.san if name.startswith("DNS:")]
    if not dns_names:  # legacy: no SAN, fall back to the subject CN
        dns_names = [part[3:] for part in cert.subject.split(",") if part.startswith("CN=")]
    return any(_name_matches(name, host) for name in dns_names)
