"""Derived numbers every renderer shows the same way: findings per severity, the worst one, result counts.

What could not be probed is counted here once for every format and for the exit code: the report's own
RunErrors (a bad target, the safety guard refusing a name, a DNS failure, a crashed check), and every port
and handshake whose result is `error` (the guard refusing an address before anything was sent, a local
network error, a probe that crashed), and every target an interrupted run did not finish (kind
`interrupted`: it was not probed either). `could_not_probe(report)` lists them all as RunErrors; the formats
people read list the unfinished targets in their own `interrupted` section (`listed_errors` leaves them out).

Measured (`has_results`): DNS answers, ports and handshakes that gave a result, and an egress verdict that
says something (an `inconclusive` one measured nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailprobe.model import (
    CheckStatus,
    EgressVerdict,
    ErrorKind,
    HandshakeResult,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
    RunError,
    Severity,
)


@dataclass(frozen=True, slots=True)
class Summary:
    by_severity: tuple[tuple[Severity, int], ...]  # every severity, info first
    worst: Severity | None
    findings: int  # problems: one finding may stand for several places
    places: int  # where the problems were seen, counted over every finding
    errors: int  # everything that could not be probed or judged (could_not_probe)
    errors_by_kind: tuple[tuple[ErrorKind, int], ...]
    checks: tuple[tuple[CheckStatus, int], ...]
    domains: int
    ports: tuple[tuple[PortState, int], ...]  # states seen, in enum order
    handshakes: tuple[tuple[ProbeStatus, int], ...]  # statuses seen, in enum order
    egress_verdict: str | None
    interrupted: bool = False
    measured: int = 0  # DNS answers, ports and handshakes that gave a result (not `error`), a conclusive egress
    could_not_probe: tuple[RunError, ...] = ()  # what `errors` counts, one entry each
    retried: int = 0  # --cluster: targets run again because the worker running them died

    @property
    def has_results(self) -> bool:
        """Whether anything was measured at all (errors, and findings about errors, are not results)."""
        return self.measured > 0

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
            "could_not_probe": [
                {"target": e.target, "kind": e.kind.value, "message": e.message} for e in self.could_not_probe
            ],
            "checks": {s.value: n for s, n in self.checks},
            "domains": self.domains,
            "ports": {s.value: n for s, n in self.ports},
            "handshakes": {s.value: n for s, n in self.handshakes},
            "egress_verdict": self.egress_verdict,
            "interrupted": self.interrupted,
            "retried": self.retried,
        }


def port_place(p: PortResult) -> str:
    """How checks name a port: 'mx1.example.org [203.0.113.25]:25', or '203.0.113.25:25' by address."""
    host = p.address if not p.host or p.host == p.address else f"{p.host} [{p.address}]"
    return f"{host}:{p.port}"


def handshake_place(h: HandshakeResult) -> str:
    """How checks name a handshake: 'mx1.example.org [203.0.113.25]:25/smtp' (mailprobe.checks.places)."""
    t = h.target
    host = t.address if t.host == t.address else f"{t.host} [{t.address}]"
    return f"{host}:{t.port}/{t.service.value}"


def could_not_probe(report: Report) -> tuple[RunError, ...]:
    """Everything that could not be probed or judged: the report's errors, then one per port and handshake
    whose result is `error` (egress ones included), then one per target an interrupted run did not finish.
    The count every format shows and the exit code uses."""
    found = list(report.errors)
    ports, handshakes = list(report.ports), list(report.handshakes)
    if report.egress is not None:
        ports += report.egress.ports
        handshakes += [*report.egress.handshakes, *report.egress.control_handshakes]
    for p in ports:
        if p.state in (PortState.ERROR, PortState.BLOCKED):
            kind = ErrorKind.REFUSED if p.state is PortState.BLOCKED else ErrorKind.NETWORK
            found.append(RunError(port_place(p), kind, p.reason))
    for h in handshakes:
        if h.status in (ProbeStatus.ERROR, ProbeStatus.BLOCKED):
            kind = ErrorKind.REFUSED if h.status is ProbeStatus.BLOCKED else ErrorKind.INTERNAL
            found.append(RunError(handshake_place(h), kind, h.reason))
    found += [RunError(target, ErrorKind.INTERRUPTED, UNFINISHED_MESSAGE) for target in report.unfinished]
    return tuple(dict.fromkeys(found))


UNFINISHED_MESSAGE = "did not finish, the run was interrupted"


def listed_errors(errors: tuple[RunError, ...]) -> tuple[RunError, ...]:
    """The errors a format people read lists under "could not probe": all but the unfinished targets, which
    its `interrupted` section lists (they are still counted)."""
    return tuple(e for e in errors if e.kind is not ErrorKind.INTERRUPTED)


def error_lines(errors: tuple[RunError, ...]) -> list[str]:
    """The errors for people, one line per distinct (kind, message): '203.0.113.9:25, 203.0.113.9:587: why'."""
    groups: dict[tuple[ErrorKind, str], list[str]] = {}
    for error in errors:
        groups.setdefault((error.kind, error.message), []).append(error.target)
    lines = []
    for (_, message), targets in groups.items():
        named = ", ".join(t for t in targets if t)
        lines.append(f"{named}: {message}" if named else message)
    return lines


def _measured(report: Report) -> int:
    egress = 1 if report.egress is not None and report.egress.verdict is not EgressVerdict.INCONCLUSIVE else 0
    ports = sum(1 for p in report.ports if p.state not in (PortState.ERROR, PortState.BLOCKED))
    handshakes = sum(1 for h in report.handshakes if h.status not in (ProbeStatus.ERROR, ProbeStatus.BLOCKED))
    return len(report.dns) + ports + handshakes + egress


def summarize(report: Report) -> Summary:
    """The counts of a report. The last report's summary is kept: a streamed report is summarized by its
    renderer and again for the exit code (reports are immutable, so the same object has the same summary)."""
    if _LAST_SUMMARY and _LAST_SUMMARY[0][0] is report:
        return _LAST_SUMMARY[0][1]
    summary = _summarize(report)
    _LAST_SUMMARY[:] = [(report, summary)]
    return summary


_LAST_SUMMARY: list[tuple[Report, Summary]] = []  # at most one: the report summarized last


def _summarize(report: Report) -> Summary:
    severities = [f.severity for f in report.findings]
    states = [p.state for p in report.ports]
    statuses = [h.status for h in report.handshakes]
    errors = could_not_probe(report)
    return Summary(
        by_severity=tuple((s, severities.count(s)) for s in Severity),
        worst=report.worst(),
        findings=len(report.findings),
        places=sum(max(1, len(f.places)) for f in report.findings),
        errors=len(errors),
        errors_by_kind=tuple((k, n) for k in ErrorKind if (n := sum(1 for e in errors if e.kind is k))),
        checks=tuple((s, n) for s in CheckStatus if (n := sum(1 for c in report.checks if c.status is s))),
        domains=len(report.dns),
        ports=tuple((s, states.count(s)) for s in PortState if s in states),
        handshakes=tuple((s, statuses.count(s)) for s in ProbeStatus if s in statuses),
        egress_verdict=report.egress.verdict.value if report.egress else None,
        interrupted=report.interrupted,
        measured=_measured(report),
        could_not_probe=errors,
        retried=len(report.retried),
    )
