"""The scorecard the HTML and Markdown reports open with: per domain and per host, each category's verdict.

A row is a domain or a host (a check's subject is put under the domain or host it is about: a record name under
its domain, "mx1.example.org [203.0.113.25]:25/smtp" under mx1.example.org), plus "overall" for the whole run.
A cell counts the checks of one category that passed, failed and crashed there, and what could not be probed:
  pass   every check passed (or raised only info findings)
  warn   the worst finding is low or medium
  fail   the worst finding is high or critical
  error  no finding worse than info, but a check crashed or something could not be probed
  none   nothing of the kind was checked
Everything here is raw, unescaped text: the renderers escape it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mailprobe.model import Category, CheckResult, CheckStatus, ErrorKind, Finding, Report, RunError, Severity
from mailprobe.report.grouping import host_part

CATEGORIES: tuple[tuple[Category, str], ...] = (
    (Category.DNS, "DNS"),
    (Category.POLICY, "Policy records"),
    (Category.REACH, "Reachability"),
    (Category.TLS, "TLS"),
    (Category.SMTP, "SMTP"),
    (Category.POP3, "POP3"),
    (Category.IMAP, "IMAP"),
    (Category.EGRESS, "Egress"),
    (Category.EXPECTATIONS, "Expectations"),
)
OVERALL = "overall"
EGRESS_ROW = "outbound port 25"
_ERROR_CATEGORY = {
    ErrorKind.BAD_TARGET: Category.DNS,
    ErrorKind.NO_ADDRESS: Category.DNS,
    ErrorKind.DNS: Category.DNS,
}  # every other kind is about reaching the target


@dataclass(slots=True)
class Cell:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    worst: Severity | None = None  # of the findings raised here

    @property
    def verdict(self) -> str:
        if self.worst is not None and self.worst.rank >= Severity.HIGH.rank:
            return "fail"
        if self.worst is not None and self.worst.rank >= Severity.LOW.rank:
            return "warn"
        if self.errors:
            return "error"
        return "pass" if self.passed or self.failed else "none"

    @property
    def checks(self) -> int:
        return self.passed + self.failed

    def add_finding(self, severity: Severity) -> None:
        if self.worst is None or severity.rank > self.worst.rank:
            self.worst = severity


@dataclass(slots=True)
class Row:
    subject: str
    kind: str  # "overall", "domain", "host", "egress", "other"
    cells: dict[Category, Cell] = field(default_factory=lambda: {c: Cell() for c, _ in CATEGORIES})


def findings_of(check: CheckResult, findings: Sequence[Finding]) -> list[Finding]:
    """The findings a check raised on its subject: its codes, seen at its subject (else all of its codes)."""
    mine = [f for f in findings if f.code in check.codes]
    subject = check.subject

    def here(f: Finding) -> bool:
        return subject in f.target.split(", ") or any(p == subject or p.startswith(subject + "/") for p in f.places)

    return [f for f in mine if here(f)] or mine


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


class _Owners:
    """Which row a subject belongs to: a known domain or host, by name, address, or as a parent name."""

    def __init__(self, report: Report) -> None:
        self.domains = list(dict.fromkeys(d.domain for d in report.dns))
        hosts = [m.name for d in report.dns for m in d.mx]
        hosts += [p.host for p in report.ports] + [h.target.host for h in report.handshakes]
        self.hosts = [h for h in dict.fromkeys(hosts) if h and _norm(h) not in {_norm(d) for d in self.domains}]
        self.address_host = {p.address: p.host for p in report.ports}
        self.address_host.update({h.target.address: h.target.host for h in report.handshakes})
        self.known = {_norm(name): name for name in (*self.domains, *self.hosts)}

    def owner(self, subject: str) -> tuple[str, str]:
        if subject == EGRESS_ROW:
            return subject, "egress"
        host = host_part(subject)
        for candidate in (subject, host, self.address_host.get(host, "")):
            if _norm(candidate) in self.known:
                name = self.known[_norm(candidate)]
                return name, "domain" if name in self.domains else "host"
        parents = [name for key, name in self.known.items() if _norm(host).endswith("." + key)]
        if parents:  # a record name: _dmarc.example.org, _25._tcp.mx1.example.org
            name = max(parents, key=len)
            return name, "domain" if name in self.domains else "host"
        return host or subject, "other"


def scorecard(report: Report, errors: Sequence[RunError] = ()) -> list[Row]:
    """The overall row, then one row per domain, host and other subject, in the order they first appear.
    `errors`: what could not be probed (summary.could_not_probe), counted where it belongs."""
    owners = _Owners(report)
    rows: dict[str, Row] = {OVERALL: Row(OVERALL, "overall")}
    for name in (*owners.domains, *owners.hosts):
        rows.setdefault(name, Row(name, "domain" if name in owners.domains else "host"))

    def cells(subject: str, category: Category) -> list[Cell]:
        name, kind = owners.owner(subject)
        row = rows.setdefault(name, Row(name, kind))
        return [rows[OVERALL].cells[category], row.cells[category]]

    for check in report.checks:
        for cell in cells(check.subject, check.category):
            if check.status is CheckStatus.ERROR:
                cell.errors += 1
            elif check.status is CheckStatus.FAILED:
                cell.failed += 1
                for f in findings_of(check, report.findings):
                    cell.add_finding(f.severity)
            else:
                cell.passed += 1
    raised = {code for check in report.checks for code in check.codes}
    for f in report.findings:
        if f.code not in raised:  # a finding no check raised (a baseline's drift): still on the card
            for cell in cells(f.places[0] if f.places else f.target, f.category):
                cell.add_finding(f.severity)
    for error in errors:
        if error.kind is not ErrorKind.CHECK:  # a crashed check is already counted with its check
            for cell in cells(error.target, _ERROR_CATEGORY.get(error.kind, Category.REACH)):
                cell.errors += 1
    order = {"overall": 0, "domain": 1, "host": 2, "other": 3, "egress": 4}
    return sorted(rows.values(), key=lambda row: order[row.kind])  # stable: first appearance within a kind


def shown_categories(rows: Sequence[Row]) -> list[tuple[Category, str]]:
    """The categories anything was checked in (the overall row says), in scorecard order."""
    overall = rows[0].cells
    return [(c, label) for c, label in CATEGORIES if overall[c].verdict != "none"]


def cell_text(cell: Cell) -> str:
    """The verdict, checks passed of checks run, and what could not be probed: 'pass 14/14', 'fail 15/16',
    'error 7/7, 7 not probed', 'error 3 not probed', '-'."""
    verdict = cell.verdict
    if verdict == "none":
        return "-"
    parts = [f"{verdict} {cell.passed}/{cell.checks}" if cell.checks else verdict]
    if cell.errors:
        parts.append(f"{cell.errors} not probed")
    return ", ".join(parts) if cell.checks else " ".join(parts)
