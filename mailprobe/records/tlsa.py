"""TLSA records (RFC 6698, RFC 7672 for SMTP): parse the presentation form. Sans I/O.

Matching a served certificate against a record is judging: it lives in mailprobe.checks.dane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    def usable(self) -> bool:
        """What DANE senders use: DANE-TA/DANE-EE, Cert/SPKI, Full/SHA2-256/SHA2-512.

        RFC 7672 3.1.3: SMTP clients treat PKIX-TA/PKIX-EE (0/1) records as unusable."""
        return self.usage in (2, 3) and self.selector in (0, 1) and self.matching in (0, 1, 2)

    @property
    def supported(self) -> bool:
        """What mailprobe can check from certificate facts: usable, with a SHA2-256 or SHA2-512 digest.

        Full (matching type 0) would need the whole DER, which certificate facts do not keep."""
        return self.usable and self.matching in (1, 2)

    def describe(self) -> str:
        return (
            f"{USAGES.get(self.usage, self.usage)} {SELECTORS.get(self.selector, self.selector)} "
            f"{MATCHING.get(self.matching, self.matching)}"
        )


def parse_tlsa(value: str) -> Tlsa | None:
    """`3 1 1 abcd...` (presentation format); None when malformed."""
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
