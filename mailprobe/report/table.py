"""The human format for a terminal: one section per target (domain or host), tables that fit 100 columns.

Every string that is not ours goes through terminal_safe; colour (severity only) appears only with color=True.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from tabulate import tabulate

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
from mailprobe.report.transcript import render_transcript

WIDTH = 100
_INDENT = 2
_MIN_COLUMN = 8
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def render(report: Report, *, color: bool = False, transcript: bool = False) -> str:
    out = [
        paint(_fill(terminal_safe(describe.headline(report))), BOLD, color),
        _fill(terminal_safe(describe.run_line(report))),
    ]
    for group in group_by_target(report):
        out.extend(_group(group, color, transcript))
    if report.egress is not None:
        out.extend(_egress(report.egress, color, transcript))
    if report.errors:
        out.append(_rule("errors", color))
        out.extend(_fill(terminal_safe(str(error)), "  ") for error in report.errors)
    out.append("")
    out.append(_fill("Summary: " + terminal_safe(describe.summary_line(report))))
    return "\n".join(out) + "\n"


def _fill(text: str, indent: str = "") -> str:
    """A free-standing line wrapped to WIDTH; continuation lines hang 4 spaces deeper."""
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "    ", break_on_hyphens=False)


def _rule(title: str, color: bool) -> str:
    head = _fill(f"== {terminal_safe(title)} ")
    last = head.rsplit("\n", 1)[-1]
    return "\n" + paint(head + " " + "=" * max(3, WIDTH - len(last) - 1), BOLD, color)


def _group(group: TargetGroup, color: bool, transcript: bool) -> list[str]:
    out = [_rule(group.key, color)]
    for dns in group.dns:
        out.append(_fill(f"DNS {terminal_safe(describe.dns_heading(dns))}"))
        if dns.mx:
            rows = [[terminal_safe(cell, multiline=True) for cell in describe.mx_rows(mx)] for mx in dns.mx]
            out.append(_table(("pref", "MX", "addresses", "PTR", "status"), rows))
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
            out.append(_table(("kind", "verdict", "name / value / detail"), rows))
        notes = describe.dns_notes(dns)
        if notes:
            out.append(_fill("notes: " + terminal_safe("; ".join(notes)), "  "))
    out.extend(_ports(group.ports))
    for handshake in group.handshakes:
        out.extend(_handshake(handshake, color, transcript))
    out.extend(_findings(group.findings, color))
    return out


def _record(r: DnsRecord) -> list[str]:
    return [r.name] + [text for text in (r.value, r.detail and f"({r.detail})") if text]


def _ports(ports: Sequence[PortResult]) -> list[str]:
    if not ports:
        return []
    rows = [[terminal_safe(cell) for cell in describe.port_row(p)] for p in ports]
    return ["Ports", _table(("address", "port", "service", "state", "reason", "ms"), rows)]


def _handshake(h: HandshakeResult, color: bool, transcript: bool) -> list[str]:
    out = [_fill(f"Handshake {terminal_safe(describe.handshake_heading(h))}")]
    rows = [[terminal_safe(label), terminal_safe(value)] for label, value in describe.handshake_rows(h)]
    if rows:
        out.append(_table(None, rows))
    if transcript:
        text = render_transcript(h, color=color, width=WIDTH - _INDENT).rstrip("\n")
        out.append(textwrap.indent(text, " " * _INDENT))
    return out


def _findings(findings: Sequence[Finding], color: bool) -> list[str]:
    if not findings:
        return []
    ordered = sorted(findings, key=lambda f: -f.severity.rank)  # stable: same severity keeps report order
    rows = []
    for f in ordered:
        detail = "\n".join(
            (terminal_safe(f.title), f"evidence: {terminal_safe(f.evidence)}", f"fix: {terminal_safe(f.fix)}")
        )
        severity = paint(f.severity.value.upper(), SEVERITY_COLOUR[f.severity], color)
        rows.append([severity, f"{terminal_safe(f.code)}\n{terminal_safe(f.target)}", detail])
    return ["Findings", _table(("severity", "finding", "detail"), rows)]


def _egress(e: EgressResult, color: bool, transcript: bool) -> list[str]:
    out = [_rule("egress", color)]
    rows = [[terminal_safe(label), terminal_safe(value)] for label, value in describe.egress_rows(e)]
    out.append(_table(None, rows))
    out.extend(_ports(e.ports))
    for handshake in e.handshakes:
        out.extend(_handshake(handshake, color, transcript))
    return out


def _visible_len(line: str) -> int:
    return len(_ANSI.sub("", line))


def _natural_width(cell: str) -> int:
    return max((_visible_len(line) for line in cell.split("\n")), default=0)


def _column_caps(headers: Sequence[str] | None, rows: list[list[str]]) -> list[int]:
    """Per-column widths whose sum fits WIDTH: the widest columns are capped first (water-filling)."""
    columns = len(rows[0])
    natural = [max(_natural_width(row[i]) for row in rows) for i in range(columns)]
    # tabulate makes a headed column at least its header plus 2 wide (its MIN_PADDING), whatever the cells
    floor = [len(h) + 2 for h in headers] if headers is not None else [0] * columns
    budget = WIDTH - _INDENT - 2 * (columns - 1)

    def total(cap: int) -> int:
        return sum(max(min(n, cap), f) for n, f in zip(natural, floor, strict=True))

    if total(max(natural, default=0)) <= budget:
        return natural
    low, high = _MIN_COLUMN, max(natural)
    while low < high:  # the largest cap whose capped widths still fit
        mid = (low + high + 1) // 2
        if total(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return [min(n, low) for n in natural]


def _wrap(cell: str, width: int) -> str:
    if _natural_width(cell) <= width:
        return cell
    lines: list[str] = []
    for line in cell.split("\n"):
        lines.extend(textwrap.wrap(line, width, break_on_hyphens=False) or [""])
    return "\n".join(lines)


def _table(headers: Sequence[str] | None, rows: list[list[str]]) -> str:
    caps = _column_caps(headers, rows)
    wrapped = [[_wrap(cell, cap) for cell, cap in zip(row, caps, strict=True)] for row in rows]
    if headers is None:
        text = tabulate(wrapped, tablefmt="plain", disable_numparse=True)
    else:
        text = tabulate(wrapped, headers=list(headers), tablefmt="simple", disable_numparse=True)
    return textwrap.indent(text, " " * _INDENT, lambda line: True)
