"""Judge a report: every check over the whole report, one registry, findings grouped, every verdict recorded."""

from __future__ import annotations

from typing import Any

from mailprobe.checks import dane, egress, expectations, mx, policy, protocols, reach, tls
from mailprobe.checks.framework import Check, Judgement, run_checks
from mailprobe.model import Report

CHECKS: tuple[Check[Any], ...] = (
    *mx.CHECKS,
    *policy.CHECKS,
    *reach.CHECKS,
    *protocols.CHECKS,
    *tls.CHECKS,
    *dane.CHECKS,
    *egress.CHECKS,
    *expectations.CHECKS,
)


def judge(report: Report) -> Judgement:
    """Findings (one per problem, with its places), a CheckResult per check and subject, and an error for
    each subject whose judgement crashed."""
    return run_checks(report, CHECKS)
