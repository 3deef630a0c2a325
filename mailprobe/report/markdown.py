"""The Markdown format: a CI job summary ($GITHUB_STEP_SUMMARY) or merge-request comment, GitHub/GitLab flavoured.

The same shape as the HTML report: the scorecard, then one entry per problem with all its places and the
catalogue's explanation (collapsed), what could not be probed, the passed checks (collapsed), the details per
target, and with transcript=True each dialogue in a collapsible <details> block.

Every cell and line of text goes through markdown_cell (table pipes, code spans, links, HTML, emphasis and
mentions escaped); <summary> text goes through html_safe; a transcript sits in a code fence longer than any
run of backticks it holds, so a server cannot close it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailprobe.checks.defs import lookup
from mailprobe.model import CheckStatus, Finding, HandshakeResult, PortResult, Report, Severity
from mailprobe.report import describe
from mailprobe.report.escape import html_safe, markdown_cell
from mailprobe.report.grouping import group_by_target
from mailprobe.report.scorecard import CATEGORIES, OVERALL, cell_text, scorecard, shown_categories
from mailprobe.report.summary import could_not_probe, error_lines, listed_errors, summarize
from mailprobe.report.transcript import render_transcript, transcript_title

_LABEL = dict(CATEGORIES)
_BACKTICKS = re.compile(r"`+")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    out = [line([markdown_cell(h) for h in headers]), line(["---"] * len(headers))]
    out.extend(line([markdown_cell(cell.replace("\n", "; ")) for cell in row]) for row in rows)
    out.append("")
    return out


def _severity(severity: Severity) -> str:
    text = severity.value.upper()
    return f"**{text}**" if severity.rank >= Severity.HIGH.rank else text


def _collapsed(summary: str, body: list[str]) -> list[str]:
    """A <details> block: `summary` is raw text (escaped here), `body` Markdown already safe."""
    return [f"<details><summary>{html_safe(summary)}</summary>", "", *body, "", "</details>", ""]


def _scorecard(report: Report) -> list[str]:
    rows = scorecard(report, listed_errors(could_not_probe(report)))
    categories = shown_categories(rows)
    if not categories:
        return []
    table = []
    for row in rows:
        name = f"**{row.subject}**" if row.subject == OVERALL else markdown_cell(row.subject)
        table.append("| " + " | ".join([name, *(markdown_cell(cell_text(row.cells[c])) for c, _ in categories)]) + " |")
    return [
        "### Scorecard",
        "",
        "| " + " | ".join(["Domain / host", *(label for _, label in categories)]) + " |",
        "| " + " | ".join(["---"] * (len(categories) + 1)) + " |",
        *table,
        "",
        "Checks passed of checks run; pass: all passed (info aside), warn: low or medium, fail: high or critical, "
        "error: a check crashed or something could not be probed.",
        "",
    ]


def _finding(f: Finding) -> list[str]:
    out = [f"#### {_severity(f.severity)} {markdown_cell(f.code)}: {markdown_cell(f.title)}", ""]
    out.append(f"- **Target:** {markdown_cell(f.target)}")
    out.append(f"- **Evidence:** {markdown_cell(f.evidence)}")
    if f.places:
        out.append(f"- **Seen at ({len(f.places)}):** " + ", ".join(markdown_cell(p) for p in f.places))
    out.append(f"- **Fix:** {markdown_cell(f.fix)}")
    out.append("")
    kind = lookup(f.code)
    if kind is not None:
        body = [markdown_cell(kind.why)]
        if kind.example:
            body += ["", *_fenced(kind.example)]
        out += _collapsed(f"What {f.code} means", body)
    return out


def _fenced(text: str) -> list[str]:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", text.rstrip("\n"), fence]


def _ports(ports: Sequence[PortResult]) -> list[str]:
    if not ports:
        return []
    rows = [(p.host, *describe.port_row(p)) for p in ports]
    return _table(("Host", "Address", "Port", "Service", "State", "Reason", "ms"), rows)


def _handshake(h: HandshakeResult, transcript: bool) -> list[str]:
    out = [f"##### {markdown_cell(describe.handshake_heading(h))}", ""]
    out += _table(("Item", "Value"), describe.handshake_rows(h) or [("status", h.status.value)])
    if transcript:
        out += _collapsed(f"transcript: {transcript_title(h)}", _fenced(render_transcript(h)))
    return out


def _details(report: Report, transcript: bool) -> list[str]:
    out = ["### Details", ""]
    for group in group_by_target(report):
        out += [f"#### {markdown_cell(group.key)}", ""]
        for dns in group.dns:
            out += [f"MX {markdown_cell(describe.dns_heading(dns))}", ""]
            if dns.mx:
                out += _table(("Pref", "MX", "Addresses", "PTR", "Status"), [describe.mx_rows(mx) for mx in dns.mx])
            if dns.records:
                rows = [(r.kind.value, r.name, r.status.value, r.value, r.detail) for r in dns.records]
                out += _table(("Record", "Name", "Verdict", "Value", "Detail"), rows)
            notes = describe.dns_notes(dns)
            if notes:
                out += [f"Notes: {markdown_cell('; '.join(notes))}", ""]
        out += _ports(group.ports)
        for h in group.handshakes:
            out += _handshake(h, transcript)
    if report.egress is not None:
        out += ["#### Egress: outbound port 25", ""]
        out += _table(("Item", "Value"), describe.egress_rows(report.egress))
        out += _ports(report.egress.ports)
        for h in report.egress.handshakes:
            out += _handshake(h, transcript)
    return out


def render(report: Report, *, transcript: bool = False) -> str:
    s = summarize(report)
    out = [f"## {markdown_cell(describe.headline(report))}", ""]
    verdict = s.worst.value.upper() if s.worst else "no findings"
    out += [f"**Result: {verdict}**: {markdown_cell(describe.summary_line(report))}", ""]
    out += [markdown_cell(describe.run_line(report)), ""]
    out += _scorecard(report)
    if report.findings:
        out += [f"### Findings ({s.findings})", ""]
        for f in sorted(report.findings, key=lambda f: -f.severity.rank):
            out += _finding(f)
    listed = listed_errors(could_not_probe(report))
    errors = error_lines(listed)
    if errors:
        out += [f"### Could not probe ({len(listed)})", ""]
        out += [f"- {markdown_cell(line)}" for line in errors]
        out.append("")
    if report.interrupted:
        out += [f"### Interrupted: did not finish ({len(report.unfinished)})", ""]
        out += [f"- {markdown_cell(line)}" for line in describe.unfinished_lines(report)]
        out.append("")
    passed = [c for c in report.checks if c.status is CheckStatus.PASSED]
    if passed:
        rows = [(_LABEL.get(c.category, c.category.value), c.check, c.subject) for c in passed]
        out += [f"### Passed checks ({len(passed)})", ""]
        out += _collapsed(f"{len(passed)} checks found nothing wrong", _table(("Category", "Check", "Subject"), rows))
    crashed = [c for c in report.checks if c.status is CheckStatus.ERROR]
    if crashed:
        out += ["### Checks that crashed", ""]
        out += _table(("Check", "Subject", "Error"), [(c.check, c.subject, c.detail) for c in crashed])
    out += _details(report, transcript)
    return "\n".join(out).rstrip("\n") + "\n"
