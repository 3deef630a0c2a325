"""How checks run: each check names its subjects and judges one at a time; every judgement is recorded.

A check is data: a stable name, a category, a way to list the subjects it judges in a report (handshakes,
domains, records, ...), how to label a subject, and a pure function judging one subject. Running them all
gives the findings, grouped so one problem is one finding with all its places, and a CheckResult per
(check, subject): passed, failed, or error when judging that subject crashed (the rest of the report stands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from mailprobe.model import Category, CheckResult, CheckStatus, ErrorKind, Finding, Report, RunError

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Check(Generic[S]):
    name: str
    category: Category
    subjects: Callable[[Report], Iterable[S]]
    label: Callable[[S], str]
    judge: Callable[[Report, S], Iterable[Finding]]
    category_of: Callable[[S], Category] | None = None  # when the category depends on the subject (its protocol)


@dataclass(frozen=True, slots=True)
class Judgement:
    findings: tuple[Finding, ...]
    checks: tuple[CheckResult, ...]
    errors: tuple[RunError, ...]


def run_checks(report: Report, checks: Sequence[Check[Any]]) -> Judgement:
    findings: list[Finding] = []
    results: list[CheckResult] = []
    errors: list[RunError] = []
    for check in checks:
        try:
            subjects = list(check.subjects(report))
        except Exception as exc:  # the judging boundary: a broken check loses its own verdicts only
            results.append(CheckResult(check.name, check.category, "", CheckStatus.ERROR, detail=repr(exc)))
            errors.append(RunError("", ErrorKind.CHECK, f"check {check.name} failed: {exc!r}"))
            continue
        for subject in subjects:
            label = check.label(subject)
            category = check.category_of(subject) if check.category_of is not None else check.category
            try:
                found = list(check.judge(report, subject))
            except Exception as exc:  # the judging boundary, per subject
                results.append(CheckResult(check.name, category, label, CheckStatus.ERROR, detail=repr(exc)))
                errors.append(RunError(label, ErrorKind.CHECK, f"check {check.name} failed: {exc!r}"))
                continue
            codes = tuple(dict.fromkeys(f.code for f in found))
            status = CheckStatus.FAILED if found else CheckStatus.PASSED
            results.append(CheckResult(check.name, category, label, status, codes))
            findings.extend(found)
    return Judgement(tuple(group_findings(findings)), tuple(results), tuple(errors))


def group_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One problem, one finding: the same code, severity, title and evidence seen in several places is one
    finding listing every place (a certificate served on 7 ports of 2 addresses), in first-seen order."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for item in findings:
        groups.setdefault((item.code, item.severity.value, item.title, item.evidence), []).append(item)
    out = []
    for members in groups.values():
        first = members[0]
        targets = list(dict.fromkeys(m.target for m in members))
        places = tuple(dict.fromkeys(p for m in members for p in m.places))
        out.append(replace(first, target=", ".join(targets), places=places))
    return out
