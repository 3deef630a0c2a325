"""The findings catalogue's text: every code with its severity, category, title, why, fix and example.

Definitions live here, apart from the checks that raise them; importing this package registers them all.
"""

from __future__ import annotations

from mailprobe.checks.catalogue import FindingKind, catalogue
from mailprobe.checks.defs import dns, egress, expectations, policy, protocols, reach, tls

__all__ = ["all_codes", "dns", "egress", "expectations", "lookup", "policy", "protocols", "reach", "tls"]


def all_codes() -> dict[str, FindingKind]:
    return dict(sorted(catalogue().items()))


def lookup(code: str) -> FindingKind | None:
    return catalogue().get(code.strip().upper())
