"""DANE for SMTP (RFC 7672): TLSA records and matching a served certificate. Sans I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.model import CertFacts, DnsRecord

USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTORS = {0: "Cert", 1: "SPKI"}
MATCHING = {0: "Full", 1: "SHA2-256", 2: "SHA2-512"}
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True, slots=True)
class Tlsa:
    usage: int
    selector: int
    matching: int
    data: str  # hex, lower-case

    @property
    def supported(self) -> bool:
        """What mailprobe can check from certificate facts: DANE-EE/DANE-TA, Cert/SPKI, SHA2-256."""
        return self.usage in (2, 3) and self.selector in (0, 1) and self.matching == 1

    def describe(self) -> str:
        return (
            f"{USAGES.get(self.usage, self.usage)} {SELECTORS.get(self.selector, self.selector)} "
            f"{MATCHING.get(self.matching, self.matching)}"
        )


def parse_tlsa(value: str) -> Tlsa | None:
    """`3 1 1 abcd...` (presentation format, as DnsRecord.value holds it); None when malformed."""
    parts = value.split()
    if len(parts) < 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    data = "".join(parts[3:]).lower()
    if not _HEX.match(data) or len(data) % 2:
        return None
    usage, selector, matching = (int(p) for p in parts[:3])
    if usage > 255 or selector > 255 or matching > 255:
        return None
    if matching == 1 and len(data) != 64:
        return None
    if matching == 2 and len(data) != 128:
        return None
    return Tlsa(usage, selector, matching, data)


def _digest(cert: CertFacts, selector: int) -> str:
    raw = cert.fingerprint_sha256 if selector == 0 else cert.spki_sha256
    return raw.replace(":", "").lower()


def dane_matches(tlsa: DnsRecord, cert: CertFacts) -> bool:
    """Does this TLSA record (usage 3 DANE-EE, selector 0/1, SHA2-256) match the server's certificate?

    Usage 2 (DANE-TA) records match a trust anchor in the chain, not the leaf: see chain_matches().
    """
    record = parse_tlsa(tlsa.value)
    if record is None or record.usage != 3 or record.matching != 1 or record.selector not in (0, 1):
        return False
    return _digest(cert, record.selector) == record.data


def chain_matches(tlsa: DnsRecord, chain: tuple[CertFacts, ...]) -> bool:
    """DANE-EE against the leaf, DANE-TA against any certificate above it in the chain served."""
    record = parse_tlsa(tlsa.value)
    if record is None or not record.supported or not chain:
        return False
    if record.usage == 3:
        return dane_matches(tlsa, chain[0])
    return any(_digest(cert, record.selector) == record.data for cert in chain[1:])
