"""The human format for a terminal: one section per target (domain or host), laid out in `width` columns.

The width follows the terminal (mailprobe.cli.terminal); no word or finding code is split (see layout.py).
Every string that is not ours goes through terminal_safe; colour (severity only) appears only with color=True.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from mailprobe.model import (
    DnsRecord,
    EgressResult,
    Finding,
    HandshakeResult,
    PortResult,
    RecordKind,
    RecordStatus,
    Report,
)
from mailprobe.report import describe
from mailprobe.report.ansi import BOLD, SEVERITY_COLOUR, paint
from mailprobe.report.escape import terminal_safe
from mailprobe.report.grouping import TargetGroup, group_by_target
from mailprobe.report.layout import fill, key_values, table
from mailprobe.report.summary import could_not_probe, error_lines, listed_errors
from mailprobe.report.transcript import render_transcript

DEFAULT_WIDTH = 100
_INDENT = 2


def render(report: Report, *, color: bool = False, transcript: bool = False, width: int = DEFAULT_WIDTH) -> str:
    out = [
        paint(fill(terminal_safe(describe.headline(report)), width), BOLD, color),
        fill(terminal_safe(describe.run_line(report)), width),
    ]
    for group in group_by_target(report):
        out.extend(_group(group, color, transcript, width))
    if report.egress is not None:
        out.extend(_egress(report.egress, color, transcript, width))
    errors = error_lines(listed_errors(could_not_probe(report)))
    if errors:
        out.append(_rule("could not probe", color, width))
        out.extend(fill(terminal_safe(line), width, "  ") for line in errors)
    if report.interrupted:
        out.append(_rule(f"interrupted: {len(report.unfinished)} did not finish", color, width))
        out.extend(fill(terminal_safe(line), width, "  ") for line in describe.unfinished_lines(report))
    out.append("")
    out.append(fill("Summary: " + terminal_safe(describe.summary_line(report)), width))
    return "\n".join(out) + "\n"


def _rule(title: str, color: bool, width: int) -> str:
    head = fill(f"== {terminal_safe(title)}", width - 4)
    last = head.rsplit("\n", 1)[-1]
    return "\n" + paint(head + " " + "=" * max(3, width - len(last) - 1), BOLD, color)


def _group(group: TargetGroup, color: bool, transcript: bool, width: int) -> list[str]:
    out = [_rule(group.key, color, width)]
    for dns in group.dns:
        out.append(fill(f"DNS {terminal_safe(describe.dns_heading(dns))}", width))
        if dns.mx:
            rows = [[terminal_safe(cell, multiline=True) for cell in describe.mx_rows(mx)] for mx in dns.mx]
            out.append(table(("pref", "MX", "addresses", "PTR", "status"), rows, width))
        if dns.records:
            # One cell for name, value and detail: record names and values are long, and need the width.
            rows = [
                [
                    terminal_safe(r.kind.value),
                    terminal_safe(r.status.value),
                    "\n".join(terminal_safe(c) for c in _record(r)),
                ]
                for r in dns.records
                if not (r.kind is RecordKind.SRV and r.status is RecordStatus.MISSING)
            ]
            absent = [
                r.detail or r.name for r in dns.records if r.kind is RecordKind.SRV and r.status is RecordStatus.MISSING
            ]
            if absent:  # six empty SRV rows say less than one line
                rows.append(["SRV", "missing", "no SRV record for: " + terminal_safe(", ".join(absent))])
            out.append("Policy records")
            out.append(table(("kind", "verdict", "name / value / detail"), rows, width))
        notes = describe.dns_notes(dns)
        if notes:
            out.append(fill("notes: " + terminal_safe("; ".join(notes)), width, "  "))
    out.extend(_ports(group.ports, width))
    for handshake in group.handshakes:
        out.extend(_handshake(handshake, color, transcript, width))
    out.extend(_findings(group.findings, color, width))
    return out


def _record(r: DnsRecord) -> list[str]:
    return [r.name] + [text for text in (r.value, r.detail and f"({r.detail})") if text]


def _ports(ports: Sequence[PortResult], width: int) -> list[str]:
    if not ports:
        return []
    rows = [[terminal_safe(cell) for cell in describe.port_row(p)] for p in ports]
    return ["Ports", table(("address", "port", "service", "state", "reason", "ms"), rows, width)]


def _handshake(h: HandshakeResult, color: bool, transcript: bool, width: int) -> list[str]:
    out = [fill(f"Handshake {terminal_safe(describe.handshake_heading(h))}", width)]
    rows = [(terminal_safe(label), terminal_safe(value)) for label, value in describe.handshake_rows(h)]
    if rows:
        out.append(key_values(rows, width))
    if transcript:
        text = render_transcript(h, color=color, width=width - _INDENT).rstrip("\n")
        out.append(textwrap.indent(text, " " * _INDENT))
    return out


def _findings(findings: Sequence[Finding], color: bool, width: int) -> list[str]:
    """One block per problem: severity, code and where; then title, evidence, every place, the fix."""
    if not findings:
        return []
    out = ["Findings"]
    for f in sorted(findings, key=lambda f: -f.severity.rank):  # stable: same severity keeps report order
        severity = paint(f.severity.value.upper(), SEVERITY_COLOUR[f.severity], color)
        out.append(fill(f"{severity}  {terminal_safe(f.code)}  {terminal_safe(f.target)}", width, "  "))
        lines = [terminal_safe(f.title), f"evidence: {terminal_safe(f.evidence)}"]
        if f.places:
            lines.append(f"places ({len(f.places)}): " + terminal_safe(", ".join(f.places)))
        lines.append(f"fix: {terminal_safe(f.fix)}")
        out.extend(fill(line, width, "      ") for line in lines)
    return out


def _egress(e: EgressResult, color: bool, transcript: bool, width: int) -> list[str]:
    out = [_rule("egress", color, width)]
    rows = [(terminal_safe(label), terminal_safe(value)) for label, value in describe.egress_rows(e)]
    out.append(key_values(rows, width))
    out.extend(_ports(e.ports, width))
    for handshake in e.handshakes:
        out.extend(_handshake(handshake, color, transcript, width))
    return out
