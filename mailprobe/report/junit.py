"""The JUnit XML format, for CI test reports: one testcase per check that ran, passes included.

A problem that gets fixed turns into a pass in the CI's history instead of vanishing. Suites are the
scorecard's categories (dns, policy, reachability, tls, smtp, pop3, imap, egress, expectations), then "errors":
- one testcase per CheckResult, named "CHECK SUBJECT" (e.g. "starttls mx1.example.org [203.0.113.25]:25/smtp"),
  classname "mailprobe.CATEGORY". Passed: a pass. Failed: a failure when a finding it raised is low or above
  (the worst severity is the type; each finding's title, evidence, places and fix are the text); with info
  findings only, a pass with them in system-out. Error (the check crashed on that subject): an error.
- a finding that no check raised (a baseline's drift, for one) is a testcase of its own, judged the same way.
- one error testcase per thing that could not be probed (summary.could_not_probe): a bad target, the guard's
  refusal, a DNS failure, a port or handshake that ended in `error`, and, when the run was interrupted, each
  target that did not finish ("interrupted TARGET", type `interrupted`). The report's error count
  (summary.errors) equals the number of error testcases.
Handshake subjects carry the handshake's facts in system-out (and the transcript with transcript=True).
Every string goes through xml_safe, so the document is valid XML 1.0 whatever a server sent.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailprobe.model import Category, CheckResult, CheckStatus, ErrorKind, Finding, HandshakeResult, Report, Severity
from mailprobe.report import describe
from mailprobe.report.escape import xml_safe
from mailprobe.report.scorecard import findings_of
from mailprobe.report.summary import could_not_probe, handshake_place
from mailprobe.report.transcript import render_transcript

FAIL_AT = Severity.LOW  # findings at or above this severity are failures


@dataclass(slots=True)
class _Case:
    name: str
    classname: str
    ms: float = 0.0
    outcome: str = "pass"  # "pass", "failure", "error", "skipped"
    message: str = ""
    kind: str = ""  # the failure/error type attribute
    text: str = ""
    out: str = ""  # system-out


@dataclass(slots=True)
class _Suite:
    name: str
    cases: list[_Case] = field(default_factory=list)


def finding_text(f: Finding) -> str:
    lines = [f"{f.code} [{f.severity.value}] {f.title}", f"evidence: {f.evidence}"]
    if f.places:
        lines.append("places: " + ", ".join(f.places))
    lines.append(f"fix: {f.fix}")
    return "\n".join(lines)


def _judge(case: _Case, found: Sequence[Finding]) -> None:
    failing = sorted((f for f in found if f.severity.rank >= FAIL_AT.rank), key=lambda f: -f.severity.rank)
    text = "\n\n".join(finding_text(f) for f in found)
    if failing:
        case.outcome, case.kind = "failure", failing[0].severity.value
        case.message = "; ".join(f"{f.code}: {f.title}" for f in failing)
        case.text = text
    elif text:
        case.out = text


def _handshake_out(h: HandshakeResult, transcript: bool) -> str:
    out = "\n".join(f"{label}: {value}" for label, value in describe.handshake_rows(h))
    return out + "\n" + render_transcript(h) if transcript else out


def _check_case(check: CheckResult, report: Report, handshakes: dict[str, HandshakeResult], transcript: bool) -> _Case:
    case = _Case(f"{check.check} {check.subject}".strip(), f"mailprobe.{check.category.value}")
    if check.status is CheckStatus.ERROR:
        case.outcome, case.kind = "error", "check-error"
        case.message = case.text = f"check {check.check} failed on {check.subject or 'the report'}: {check.detail}"
    elif check.status is CheckStatus.FAILED:
        _judge(case, findings_of(check, report.findings))
    h = handshakes.get(check.subject)
    if h is not None:
        case.ms = h.elapsed_ms
        if case.outcome != "pass" or transcript:
            facts = _handshake_out(h, transcript)
            case.out = f"{case.out}\n\n{facts}".strip("\n") if case.out else facts
    return case


def _suites(report: Report, transcript: bool) -> list[_Suite]:
    suites = {category: _Suite(category.value) for category in Category}
    errors = _Suite("errors")
    egress = report.egress
    every = [*report.handshakes, *(egress.handshakes if egress else ()), *(egress.control_handshakes if egress else ())]
    handshakes = {handshake_place(h): h for h in every}
    for check in report.checks:
        suites[check.category].cases.append(_check_case(check, report, handshakes, transcript))
    raised = {code for check in report.checks for code in check.codes}
    for f in report.findings:
        if f.code not in raised:
            case = _Case(f"{f.code} {f.target}", f"mailprobe.{f.category.value}")
            _judge(case, [f])
            suites[f.category].cases.append(case)
    crashed = {check.subject for check in report.checks if check.status is CheckStatus.ERROR}
    seen: dict[str, int] = {}
    for error in could_not_probe(report):
        if error.kind is ErrorKind.CHECK and error.target in crashed:
            continue  # already an error testcase of its check
        name = f"{error.kind.value} {error.target}".strip()
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} #{seen[name]}"
        errors.cases.append(_Case(name, "mailprobe.errors", 0.0, "error", str(error), error.kind.value, str(error)))
    return [suite for suite in [*suites.values(), errors] if suite.cases]


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}" if math.isfinite(ms) else "0.000"


def _counts(cases: list[_Case]) -> dict[str, str]:
    return {
        "tests": str(len(cases)),
        "failures": str(sum(c.outcome == "failure" for c in cases)),
        "errors": str(sum(c.outcome == "error" for c in cases)),
        "skipped": str(sum(c.outcome == "skipped" for c in cases)),
    }


def render(report: Report, *, transcript: bool = False) -> str:
    suites = _suites(report, transcript)
    every = [case for suite in suites for case in suite.cases]
    root = ET.Element("testsuites", {"name": xml_safe(describe.headline(report)), **_counts(every)})
    root.set("time", _seconds(report.elapsed_ms))
    for suite in suites:
        node = ET.SubElement(root, "testsuite", {"name": suite.name, **_counts(suite.cases)})
        node.set("time", _seconds(sum(c.ms for c in suite.cases)))
        node.set("timestamp", xml_safe(report.started_at))
        for case in suite.cases:
            item = ET.SubElement(
                node, "testcase", name=xml_safe(case.name), classname=case.classname, time=_seconds(case.ms)
            )
            if case.outcome != "pass":
                attrs = {"message": xml_safe(case.message)}
                if case.kind:
                    attrs["type"] = xml_safe(case.kind)
                outcome = ET.SubElement(item, case.outcome, attrs)
                if case.text:
                    outcome.text = xml_safe(case.text, multiline=True)
            if case.out:
                ET.SubElement(item, "system-out").text = xml_safe(case.out, multiline=True)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
