"""Judging hand-built results in tests: wrap them in a report and run every check, as the engine does."""

from __future__ import annotations

from collections.abc import Sequence

from mailprobe.checks.framework import Judgement
from mailprobe.checks.run import judge
from mailprobe.model import DomainDns, EgressResult, Finding, HandshakeResult, PortResult, Report, RunContext


def report_of(
    *,
    dns: Sequence[DomainDns] = (),
    ports: Sequence[PortResult] = (),
    handshakes: Sequence[HandshakeResult] = (),
    egress: EgressResult | None = None,
    context: RunContext | None = None,
) -> Report:
    return Report(
        "audit",
        ("example.test",),
        "2026-12-01T00:00:00+00:00",
        1.0,
        dns=tuple(dns),
        ports=tuple(ports),
        handshakes=tuple(handshakes),
        egress=egress,
        context=context or RunContext(),
    )


def judgement(**parts: object) -> Judgement:
    return judge(report_of(**parts))  # type: ignore[arg-type]


def findings(**parts: object) -> list[Finding]:
    verdicts = judgement(**parts)
    assert not verdicts.errors, verdicts.errors  # a check that crashes is a bug, in tests too
    return list(verdicts.findings)


def codes(**parts: object) -> list[str]:
    return [f.code for f in findings(**parts)]
