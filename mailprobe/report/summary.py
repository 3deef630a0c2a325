"""Derived numbers every renderer shows the same way: findings per severity, the worst one, result counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailprobe.model import CheckStatus, ErrorKind, PortState, ProbeStatus, Report, Severity


@dataclass(frozen=True, slots=True)
class Summary:
    by_severity: tuple[tuple[Severity, int], ...]  # every severity, info first
    worst: Severity | None
    findings: int  # problems: one finding may stand for several places
    places: int  # where the problems were seen, counted over every finding
    errors: int
    errors_by_kind: tuple[tuple[ErrorKind, int], ...]
    checks: tuple[tuple[CheckStatus, int], ...]
    domains: int
    ports: tuple[tuple[PortState, int], ...]  # states seen, in enum order
    handshakes: tuple[tuple[ProbeStatus, int], ...]  # statuses seen, in enum order
    egress_verdict: str | None
    interrupted: bool = False

    @property
    def has_results(self) -> bool:
        """Whether anything was measured at all (errors alone are not results)."""
        return bool(self.domains or self.ports or self.handshakes or self.findings or self.egress_verdict)

    def count(self, severity: Severity) -> int:
        return dict(self.by_severity)[severity]

    def open_ports(self) -> int:
        return dict(self.ports).get(PortState.OPEN, 0)

    def total_ports(self) -> int:
        return sum(n for _, n in self.ports)

    def successful_handshakes(self) -> int:
        return dict(self.handshakes).get(ProbeStatus.SUCCESS, 0)

    def total_handshakes(self) -> int:
        return sum(n for _, n in self.handshakes)

    def severity_phrase(self) -> str:
        """'2 high, 1 medium' (worst first, zero counts left out) or 'no findings'."""
        parts = [f"{n} {s.value}" for s, n in reversed(self.by_severity) if n]
        return ", ".join(parts) if parts else "no findings"

    def as_jsonable(self) -> dict[str, Any]:
        return {
            "worst": self.worst.value if self.worst else None,
            "findings": self.findings,
            "places": self.places,
            "by_severity": {s.value: n for s, n in self.by_severity},
            "errors": self.errors,
            "errors_by_kind": {k.value: n for k, n in self.errors_by_kind},
            "checks": {s.value: n for s, n in self.checks},
            "domains": self.domains,
            "ports": {s.value: n for s, n in self.ports},
            "handshakes": {s.value: n for s, n in self.handshakes},
            "egress_verdict": self.egress_verdict,
            "interrupted": self.interrupted,
        }


def summarize(report: Report) -> Summary:
    severities = [f.severity for f in report.findings]
    states = [p.state for p in report.ports]
    statuses = [h.status for h in report.handshakes]
    return Summary(
        by_severity=tuple((s, severities.count(s)) for s in Severity),
        worst=report.worst(),
        findings=len(report.findings),
        places=sum(max(1, len(f.places)) for f in report.findings),
        errors=len(report.errors),
        errors_by_kind=tuple((k, n) for k in ErrorKind if (n := sum(1 for e in report.errors if e.kind is k))),
        checks=tuple((s, n) for s in CheckStatus if (n := sum(1 for c in report.checks if c.status is s))),
        domains=len(report.dns),
        ports=tuple((s, states.count(s)) for s in PortState if s in states),
        handshakes=tuple((s, statuses.count(s)) for s in ProbeStatus if s in statuses),
        egress_verdict=report.egress.verdict.value if report.egress else None,
        interrupted=report.interrupted,
    )
