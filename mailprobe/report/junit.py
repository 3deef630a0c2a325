"""The JUnit XML format, for CI test reports: one testcase per check and target.

Suites and their testcases:
- "dns": one per domain. Passes when the MX lookup gave an answer (found, implicit, null MX, or the target
  was an address); NXDOMAIN/NODATA fail; SERVFAIL, REFUSED, timeouts and errors are errors.
- "ports": one per port result. Open passes; closed/filtered/unreachable are skipped (whether that is wrong
  is the findings' call); error is an error.
- "handshakes": one per handshake. Success passes, skipped is skipped, every other status fails with the
  reason, TLS error and greeting as evidence.
- "findings": one per finding (code and target). Info passes (evidence in system-out); low and above fail,
  with the severity as the failure type and evidence and fix as the text.
- "egress": one testcase when present: verdict "open" passes, anything else fails with the evidence.
- "errors": one error testcase per run error.
Every string goes through xml_safe, so the document is valid XML 1.0 whatever a server sent.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from mailprobe.model import EgressVerdict, HandshakeResult, MxStatus, PortState, ProbeStatus, Report, Severity
from mailprobe.report import describe
from mailprobe.report.escape import xml_safe
from mailprobe.report.transcript import render_transcript

_DNS_PASS = frozenset({MxStatus.FOUND, MxStatus.IMPLICIT, MxStatus.NULL, MxStatus.NOT_A_DOMAIN})
_DNS_FAIL = frozenset({MxStatus.NXDOMAIN, MxStatus.NODATA})
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


def _handshake_case(h: HandshakeResult, suite: str, transcript: bool) -> _Case:
    case = _Case(describe.target_text(h), f"mailprobe.{suite}", h.elapsed_ms)
    rows = describe.handshake_rows(h)
    case.out = "\n".join(f"{label}: {value}" for label, value in rows)
    if transcript:
        case.out += "\n" + render_transcript(h)
    if h.status is ProbeStatus.SKIPPED:
        case.outcome, case.message = "skipped", h.reason
    elif h.status is not ProbeStatus.SUCCESS:
        case.outcome, case.kind = "failure", h.status.value
        case.message = f"{h.status.value}: {h.reason}"
        case.text = case.out
    return case


def _suites(report: Report, transcript: bool) -> list[_Suite]:
    dns = _Suite("dns")
    for d in report.dns:
        case = _Case(f"MX {d.domain}", "mailprobe.dns", d.elapsed_ms)
        rows = [f"{r.kind} {r.name}: {r.status} {r.value} {r.detail}".rstrip() for r in d.records]
        rows += [" ".join(describe.mx_rows(mx)).replace("\n", " ") for mx in d.mx]
        case.out = "\n".join(rows)
        if d.status not in _DNS_PASS:
            case.outcome = "failure" if d.status in _DNS_FAIL else "error"
            case.kind, case.message, case.text = d.status.value, describe.dns_heading(d), case.out
        dns.cases.append(case)
    ports = _Suite("ports")
    for p in [*report.ports, *(report.egress.ports if report.egress else ())]:
        _, _, service, state, reason, _ = describe.port_row(p)
        name = f"{p.host} {describe.hostport(p.address, p.port)} {service}".rstrip()
        case = _Case(name, "mailprobe.ports", p.elapsed_ms)
        if p.state is PortState.ERROR:
            case.outcome, case.kind, case.message = "error", state, f"{state}: {reason}"
        elif p.state is not PortState.OPEN:
            case.outcome, case.message = "skipped", f"{state}: {reason}"
        ports.cases.append(case)
    handshakes = _Suite("handshakes")
    handshakes.cases += [_handshake_case(h, "handshakes", transcript) for h in report.handshakes]
    findings = _Suite("findings")
    for f in report.findings:
        case = _Case(f"{f.code} {f.target}", "mailprobe.findings")  # severity: in the type, so ids stay stable
        detail = f"{f.title}\nevidence: {f.evidence}\nfix: {f.fix}"
        if f.severity.rank >= FAIL_AT.rank:
            case.outcome, case.kind, case.message, case.text = "failure", f.severity.value, f.title, detail
        else:
            case.out = detail
        findings.cases.append(case)
    suites = [dns, ports, handshakes, findings]
    if report.egress is not None:
        e = report.egress
        egress = _Suite("egress")
        case = _Case("egress", "mailprobe.egress")
        case.out = "\n".join(f"{label}: {value}" for label, value in describe.egress_rows(e))
        if e.verdict is not EgressVerdict.OPEN:
            case.outcome, case.kind, case.message, case.text = "failure", e.verdict.value, e.explanation, case.out
        egress.cases.append(case)
        egress.cases += [_handshake_case(h, "egress", transcript) for h in e.handshakes]
        suites.append(egress)
    if report.errors:
        errors = _Suite("errors")
        for number, error in enumerate(report.errors, start=1):
            text = str(error)
            errors.cases.append(
                _Case(f"error {number}", "mailprobe.errors", 0.0, "error", text, error.kind.value, text)
            )
        suites.append(errors)
    return [suite for suite in suites if suite.cases]


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
