"""The sections of the HTML report below its scorecard: findings, passed checks, what could not be probed,
the details per target (DNS, ports, handshakes and their transcripts), and the catalogue's explanations.

Every string that is not ours goes through html_safe; every id comes from Anchors, so each `href="#..."`
the page holds names an element of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailprobe.checks.defs import lookup
from mailprobe.model import CheckResult, CheckStatus, Finding, HandshakeResult, PortResult, Report
from mailprobe.report import describe, html_transcript
from mailprobe.report.escape import html_safe
from mailprobe.report.grouping import group_by_target
from mailprobe.report.scorecard import CATEGORIES
from mailprobe.report.summary import handshake_place
from mailprobe.report.transcript import transcript_title

_LABEL = dict(CATEGORIES)
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
# A word with a hyphen (a finding code, a host name, "DNSSEC-authenticated") is kept on one line: browsers
# would break it after the hyphen. Longer ones (keys, URLs) may break, or they would overflow a phone's width.
_HYPHENATED = re.compile(r"(?<![^\s>])([^\s<>]*-[^\s<>]*)(?![^\s<])")
LONG_TOKEN = 40


def _keep(match: re.Match[str]) -> str:
    word = match.group(1)
    return f'<span class="nw">{word}</span>' if len(word) <= LONG_TOKEN else word


def text(value: str | bytes, *, multiline: bool = False) -> str:
    """html_safe text whose hyphenated words never break at their hyphen; with `multiline`, lines become <br>."""
    escaped = _HYPHENATED.sub(_keep, html_safe(value, multiline=multiline))
    return escaped.replace("\n", "<br>") if multiline else escaped


class Anchors:
    """Unique, safe element ids made from any text."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, prefix: str, text: str = "") -> str:
        base = prefix + ("-" + _UNSAFE_ID.sub("-", text).strip("-").lower()[:40] if text else "")
        anchor, number = base, 1
        while anchor in self.used:
            number += 1
            anchor = f"{base}-{number}"
        self.used.add(anchor)
        return anchor


@dataclass
class Page:
    """What the sections share: the report, its anchors, and where each finding, code and handshake lives."""

    report: Report
    transcript: bool
    anchors: Anchors = field(default_factory=Anchors)
    finding_ids: dict[int, str] = field(default_factory=dict)  # id(finding) -> anchor
    code_ids: dict[str, str] = field(default_factory=dict)  # code -> anchor of its explanation
    handshake_ids: dict[int, str] = field(default_factory=dict)  # id(handshake) -> anchor of its section
    flags: dict[int, list[tuple[int, Finding, str]]] = field(default_factory=dict)  # id(handshake) -> lines
    quoted: dict[int, tuple[str, str]] = field(default_factory=dict)  # id(finding) -> (place, transcript line)
    target_ids: dict[str, str] = field(default_factory=dict)  # target group key -> anchor of its details

    def __post_init__(self) -> None:
        egress = self.report.egress
        self.handshakes = [*self.report.handshakes, *(egress.handshakes if egress else ())]
        for h in self.handshakes:
            self.handshake_ids[id(h)] = self.anchors.make("hs", f"{h.target.host}-{h.target.port}")
        for f in self.report.findings:
            self.finding_ids[id(f)] = self.anchors.make("finding", f.code)
            if f.code not in self.code_ids and lookup(f.code) is not None:
                self.code_ids[f.code] = self.anchors.make("why", f.code)
        if self.transcript:
            self._flag_quoted_lines()

    def _flag_quoted_lines(self) -> None:
        by_place = {handshake_place(h): h for h in self.handshakes}
        for f in self.report.findings:
            for where in f.places:
                h = by_place.get(where)
                if h is None:
                    continue
                line = html_transcript.quoted_line(html_transcript.lines_of(h), f.evidence)
                if line is None:
                    continue
                anchor = f"tr-{self.handshake_ids[id(h)]}"
                self.flags.setdefault(id(h), []).append((line, f, self.finding_ids[id(f)]))
                self.quoted.setdefault(id(f), (where, f"{anchor}-{line}"))

    def place_link(self, where: str) -> str:
        for h in self.handshakes:
            if handshake_place(h) == where:
                return f'<a href="#{self.handshake_ids[id(h)]}">{text(where)}</a>'
        return text(where)


def table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]], css: str = "") -> str:
    """Every cell escaped here; a multi-line cell keeps its lines. Wrapped so a wide table scrolls by itself."""
    out = [f'<div class="scroll"><table class="{css}">' if css else '<div class="scroll"><table>']
    if headers:
        out.append("<tr>" + "".join(f"<th>{html_safe(h)}</th>" for h in headers) + "</tr>")
    for row in rows:
        cells = []
        for index, cell in enumerate(row):
            shown = text(cell, multiline=True)
            cells.append(f"<th>{shown}</th>" if css == "kv" and index == 0 else f"<td>{shown}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def findings(page: Page) -> list[str]:
    """One card per problem, worst first: what, where (every place), the evidence, the fix, and links to the
    explanation and to the transcript line that shows it."""
    out = ['<section id="findings"><h2>Findings</h2>']
    ordered = sorted(page.report.findings, key=lambda f: -f.severity.rank)
    if not ordered:
        out.append('<p class="none">No findings.</p>')
    for f in ordered:
        severity = f.severity.value
        code_anchor = page.code_ids.get(f.code)
        code = f"<code>{html_safe(f.code)}</code>"
        code = f'<a href="#{code_anchor}">{code}</a>' if code_anchor else code
        out.append(f'<article class="finding f-{severity}" id="{page.finding_ids[id(f)]}">')
        out.append(f'<h3><span class="sev s-{severity}">{severity.upper()}</span> {code} {text(f.title)}</h3>')
        rows = [f"<dt>target</dt><dd>{text(f.target)}</dd>", f"<dt>evidence</dt><dd>{text(f.evidence)}</dd>"]
        if f.places:
            places = "".join(f"<li>{page.place_link(p)}</li>" for p in f.places)
            rows.append(f"<dt>seen at ({len(f.places)})</dt><dd><ul>{places}</ul></dd>")
        rows.append(f"<dt>fix</dt><dd>{text(f.fix)}</dd>")
        quoted = page.quoted.get(id(f))
        if quoted is not None:
            rows.append(
                f'<dt>shown in</dt><dd><a href="#{quoted[1]}">the transcript of {html_safe(quoted[0])}</a></dd>'
            )
        out.append("<dl>" + "".join(rows) + "</dl></article>")
    out.append("</section>")
    return out


def passed_checks(page: Page) -> list[str]:
    passed = [c for c in page.report.checks if c.status is CheckStatus.PASSED]
    out = [f'<section id="passed"><h2>Passed checks ({len(passed)})</h2>']
    if not passed:
        out.append('<p class="none">No check passed.</p>')
    else:
        rows = [[_LABEL.get(c.category, c.category.value), c.check, c.subject] for c in passed]
        out.append(f"<details><summary>{len(passed)} checks found nothing wrong</summary>")
        out.append(table(("Category", "Check", "Subject"), rows))
        out.append("</details>")
    crashed = [c for c in page.report.checks if c.status is CheckStatus.ERROR]
    if crashed:
        out.append(table(("Category", "Check", "Subject", "Crashed"), [_crash_row(c) for c in crashed]))
    out.append("</section>")
    return out


def _crash_row(c: CheckResult) -> list[str]:
    return [_LABEL.get(c.category, c.category.value), c.check, c.subject, c.detail]


def errors(lines: Sequence[str]) -> list[str]:
    if not lines:
        return []
    items = "".join(f"<li>{text(line)}</li>" for line in lines)
    return [f'<section id="errors"><h2>Could not probe ({len(lines)})</h2><ul>{items}</ul></section>']


def interrupted(report: Report) -> list[str]:
    if not report.interrupted:
        return []
    items = "".join(f"<li>{text(line)}</li>" for line in describe.unfinished_lines(report))
    count = len(report.unfinished)
    return [f'<section id="interrupted"><h2>Interrupted: did not finish ({count})</h2><ul>{items}</ul></section>']


def details(page: Page) -> list[str]:
    """Per target group: DNS, ports and handshakes with their transcripts; then egress."""
    out = ['<section id="details"><h2>Details</h2>']
    for group in group_by_target(page.report):
        anchor = page.anchors.make("target", group.key)
        page.target_ids.setdefault(group.key, anchor)
        out.append(f'<h3 id="{anchor}">{text(group.key)}</h3>')
        for dns in group.dns:
            out.append(f"<p><strong>MX</strong> {text(describe.dns_heading(dns))}</p>")
            if dns.mx:
                out.append(table(("Pref", "MX", "Addresses", "PTR", "Status"), [describe.mx_rows(m) for m in dns.mx]))
            if dns.records:
                rows = [(r.kind.value, r.name, r.status.value, r.value, r.detail) for r in dns.records]
                out.append(table(("Record", "Name", "Verdict", "Value", "Detail"), rows))
            notes = describe.dns_notes(dns)
            if notes:
                out.append(f"<p>Notes: {text('; '.join(notes))}</p>")
        out.extend(_ports(group.ports))
        for h in group.handshakes:
            out.extend(_handshake(page, h))
    egress = page.report.egress
    if egress is not None:
        out.append('<h3 id="egress">Egress: outbound port 25</h3>')
        out.append(table(None, describe.egress_rows(egress), "kv"))
        out.extend(_ports(egress.ports))
        for h in egress.handshakes:
            out.extend(_handshake(page, h))
    out.append("</section>")
    return out


def _ports(ports: Sequence[PortResult]) -> list[str]:
    if not ports:
        return []
    rows = [describe.port_row(p) for p in ports]
    return ["<h4>Ports</h4>", table(("Address", "Port", "Service", "State", "Reason", "ms"), rows)]


def _handshake(page: Page, h: HandshakeResult) -> list[str]:
    anchor = page.handshake_ids[id(h)]
    out = [f'<h4 id="{anchor}">Handshake {text(describe.handshake_heading(h))}</h4>']
    out.append(table(None, describe.handshake_rows(h) or [("status", h.status.value)], "kv"))
    if page.transcript:
        flagged = page.flags.get(id(h), [])
        out.append(html_transcript.render(h, f"tr-{anchor}", transcript_title(h), flagged))
    return out


def explanations(page: Page) -> list[str]:
    """The catalogue's text for every code in the report: what it means, why it matters, the fix, an example."""
    if not page.code_ids:
        return []
    out = ['<section id="explanations"><h2>What the findings mean</h2>']
    for code, anchor in sorted(page.code_ids.items()):
        kind = lookup(code)
        if kind is None:
            continue
        out.append(f'<details class="why" id="{anchor}"><summary><code>{html_safe(code)}</code> ')
        out.append(f"{text(kind.title)}</summary>")
        out.append(f"<p>{text(kind.why)}</p><p><strong>Fix:</strong> {text(kind.fix)}</p>")
        if kind.example:
            out.append(f'<div class="scroll"><pre>{html_safe(kind.example, multiline=True)}</pre></div>')
        out.append("</details>")
    out.append("</section>")
    return out
