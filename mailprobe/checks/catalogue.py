"""The findings catalogue: every code mailprobe can emit, with its meaning and fix.

Each checks module defines its codes with `define(...)` at import time; `all_codes()` imports them all.
Codes are stable strings: renaming one is a breaking change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from mailprobe.model import Finding, Severity


@dataclass(frozen=True, slots=True)
class FindingKind:
    code: str
    severity: Severity
    title: str
    why: str  # what it means and why it matters
    fix: str  # one line
    example: str = ""  # a protocol dialogue or record that shows it


_CATALOGUE: dict[str, FindingKind] = {}

# Modules that define codes; `all_codes()` imports each so the catalogue is complete.
CHECK_MODULES = (
    "mailprobe.checks.dns",
    "mailprobe.checks.reach",
    "mailprobe.checks.handshake",
    "mailprobe.checks.tls",
    "mailprobe.checks.baseline",
    "mailprobe.checks.profile",
)


def define(code: str, severity: Severity, title: str, why: str, fix: str, example: str = "") -> FindingKind:
    kind = FindingKind(code, severity, title, why, fix, example)
    existing = _CATALOGUE.get(code)
    if existing is not None and existing != kind:
        raise ValueError(f"finding code {code} defined twice with different content")
    _CATALOGUE[code] = kind
    return kind


def finding(
    kind: FindingKind, target: str, evidence: str, severity: Severity | None = None, title: str | None = None
) -> Finding:
    """A finding of a catalogued kind; severity/title may be sharpened for the case (e.g. AUTH on 587)."""
    return Finding(
        code=kind.code,
        severity=severity or kind.severity,
        target=target,
        title=title or kind.title,
        evidence=evidence,
        fix=kind.fix,
    )


def all_codes() -> dict[str, FindingKind]:
    for name in CHECK_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module not written yet is not a catalogue error
            if exc.name != name:
                raise
    return dict(sorted(_CATALOGUE.items()))


def lookup(code: str) -> FindingKind | None:
    return all_codes().get(code.upper())
