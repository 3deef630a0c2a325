"""The Markdown format: a CI job summary or merge-request comment (GitHub and GitLab flavoured tables).

Every cell and heading goes through markdown_cell, which escapes table pipes, code spans, links, HTML, emphasis
and mentions; multi-line values are joined on one line, since a table row cannot break.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailprobe.model import Report, Severity
from mailprobe.report import describe
from mailprobe.report.escape import markdown_cell
from mailprobe.report.summary import summarize


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    out = [line(headers), line(["---"] * len(headers))]
    out.extend(line([markdown_cell(cell.replace("\n", "; ")) for cell in row]) for row in rows)
    out.append("")
    return out


def _severity(severity: Severity) -> str:
    text = severity.value.upper()
    return f"**{text}**" if severity.rank >= Severity.HIGH.rank else text


def render(report: Report, *, transcript: bool = False) -> str:
    s = summarize(report)
    out = [f"## {markdown_cell(describe.headline(report))}", ""]
    verdict = s.worst.value.upper() if s.worst else "no findings"
    out.append(f"**Result: {verdict}**: {markdown_cell(describe.summary_line(report))}")
    out.append("")
    out.append(markdown_cell(describe.run_line(report)))
    out.append("")
    if report.findings:
        out += ["### Findings", ""]
        out.append("| Severity | Code | Target | Title | Evidence | Fix |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for f in sorted(report.findings, key=lambda f: -f.severity.rank):
            cells = [markdown_cell(c) for c in (f.code, f.target, f.title, f.evidence, f.fix)]
            out.append("| " + " | ".join([_severity(f.severity), *cells]) + " |")
        out.append("")
    if report.dns:
        out += ["### DNS", ""]
    for dns in report.dns:
        out += [f"#### {markdown_cell(dns.domain)}: {markdown_cell(describe.dns_heading(dns))}", ""]
        if dns.mx:
            out += _table(("Pref", "MX", "Addresses", "PTR", "Status"), [describe.mx_rows(mx) for mx in dns.mx])
        if dns.records:
            rows = [(r.kind.value, r.name, r.status.value, r.value, r.detail) for r in dns.records]
            out += _table(("Record", "Name", "Verdict", "Value", "Detail"), rows)
        notes = describe.dns_notes(dns)
        if notes:
            out += [f"Notes: {markdown_cell('; '.join(notes))}", ""]
    if report.ports:
        out += ["### Ports", ""]
        port_rows = [(p.host, *describe.port_row(p)) for p in report.ports]
        out += _table(("Host", "Address", "Port", "Service", "State", "Reason", "ms"), port_rows)
    if report.handshakes:
        out += ["### Handshakes", ""]
    for h in report.handshakes:
        out += [f"#### {markdown_cell(describe.handshake_heading(h))}", ""]
        out += _table(("Item", "Value"), describe.handshake_rows(h) or [("status", h.status.value)])
    if report.egress is not None:
        out += ["### Egress", ""]
        out += _table(("Item", "Value"), describe.egress_rows(report.egress))
        if report.egress.ports:
            port_rows = [(p.host, *describe.port_row(p)) for p in report.egress.ports]
            out += _table(("Host", "Address", "Port", "Service", "State", "Reason", "ms"), port_rows)
        for h in report.egress.handshakes:
            out += [f"#### {markdown_cell(describe.handshake_heading(h))}", ""]
            out += _table(("Item", "Value"), describe.handshake_rows(h) or [("status", h.status.value)])
    if report.errors:
        out += ["### Errors", ""]
        out += [f"- {markdown_cell(str(error))}" for error in report.errors]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
