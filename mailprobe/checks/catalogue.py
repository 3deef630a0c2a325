"""The findings catalogue: every code mailprobe can emit, with its meaning and fix.

The codes are defined in mailprobe.checks.defs (importing that package registers them all). Codes are stable
strings: renaming one is a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailprobe.model import Category, Finding, Severity


@dataclass(frozen=True, slots=True)
class FindingKind:
    code: str
    severity: Severity
    category: Category
    title: str
    why: str  # what it means and why it matters
    fix: str  # one line
    example: str = ""  # a protocol dialogue or record that shows it


_CATALOGUE: dict[str, FindingKind] = {}


def define(
    code: str, severity: Severity, category: Category, title: str, why: str, fix: str, example: str = ""
) -> FindingKind:
    kind = FindingKind(code, severity, category, title, why, fix, example)
    existing = _CATALOGUE.get(code)
    if existing is not None and existing != kind:
        raise ValueError(f"finding code {code} defined twice with different content")
    _CATALOGUE[code] = kind
    return kind


def catalogue() -> dict[str, FindingKind]:
    """The codes defined so far (import mailprobe.checks.defs for all of them)."""
    return _CATALOGUE


def finding(
    kind: FindingKind,
    target: str,
    evidence: str,
    *,
    places: tuple[str, ...] = (),
    severity: Severity | None = None,
    title: str | None = None,
    category: Category | None = None,
    fix: str | None = None,
) -> Finding:
    """A finding of a catalogued kind. Severity, title and category may be sharpened for the case (AUTH
    before TLS is high on 587; a failed handshake belongs to its protocol's category), and the fix when advice
    depends on what was measured (egress names only ports seen working)."""
    return Finding(
        code=kind.code,
        severity=severity or kind.severity,
        target=target,
        title=title or kind.title,
        evidence=evidence,
        fix=fix or kind.fix,
        places=places,
        category=category or kind.category,
    )
