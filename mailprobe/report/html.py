"""The HTML format: one self-contained page to forward, opening with a scorecard (like internet.nl's).

    scorecard (per domain and host: DNS, policy records, reachability, TLS, SMTP, POP3, IMAP, egress)
    findings (one card per problem with all its places; links to its explanation and to the transcript line)
    could not probe · passed checks · details per target (transcripts coloured C:/S:/TLS) · explanations

No script, no external request: inline CSS allowed by its hash in a strict Content-Security-Policy. Every
string that is not ours goes through html_safe (terminal_safe, then html.escape with quotes). Words and codes
never break mid-word; tables and transcripts too wide for the screen scroll inside their own box.
"""

from __future__ import annotations

import base64
import hashlib

from mailprobe.model import Report
from mailprobe.report import describe, html_sections
from mailprobe.report.escape import html_safe
from mailprobe.report.html_sections import text
from mailprobe.report.scorecard import OVERALL, Row, cell_text, scorecard, shown_categories
from mailprobe.report.summary import could_not_probe, error_lines, listed_errors, summarize

CSS = """
:root { --fg: #1d1d1f; --muted: #52525b; --line: #d4d4d8; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 75em; color: var(--fg);
       padding: 1em; overflow-wrap: break-word; word-break: normal; hyphens: none; }
h1 { font-size: 1.5em; margin: .2em 0; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.1em; } h4 { font-size: 1em; margin: 1.2em 0 .3em; }
code { font: .92em ui-monospace, monospace; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid var(--line); padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f4f4f5; }
.kv th { font-weight: normal; color: var(--muted); white-space: nowrap; }
.sev { font-weight: bold; white-space: nowrap; padding: 0 .4em; border-radius: 3px; }
.s-critical { background: #7f1d1d; color: #fff; } .s-high { background: #dc2626; color: #fff; }
.s-medium { background: #f59e0b; } .s-low { background: #bfdbfe; } .s-info { background: #e4e4e7; }
.s-none { background: #dcfce7; }
.result { font-size: 1.1em; padding: .5em .8em; border-radius: 4px; }
.nw { white-space: nowrap; }
.meta { color: var(--muted); }
nav ol { margin: .3em 0; padding-left: 1.4em; } nav li { display: inline-block; margin-right: 1.2em; }
.score td, .score th { text-align: center; white-space: nowrap; }
.score th:first-child, .score td:first-child { text-align: left; }
.v-pass { background: #dcfce7; } .v-warn { background: #fef3c7; } .v-fail { background: #fecaca; }
.v-error { background: #e4e4e7; } .v-none { color: #a1a1aa; }
.finding { border: 1px solid var(--line); border-left: 6px solid #a1a1aa; border-radius: 4px;
           padding: .2em .9em; margin: .8em 0; background: #fff; }
.finding.f-critical, .finding.f-high { border-left-color: #dc2626; }
.finding.f-medium { border-left-color: #f59e0b; } .finding.f-low { border-left-color: #60a5fa; }
.finding h3 { margin: .4em 0; }
.finding dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .15em .8em; }
.finding dt { color: var(--muted); } .finding dd { margin: 0; } .finding ul { margin: 0; padding-left: 1.1em; }
details { margin: .4em 0; } summary { cursor: pointer; }
pre { background: #18181b; color: #e4e4e7; padding: .8em; margin: 0; white-space: pre; }
.line { display: block; } .line .at { color: #71717a; display: inline-block; min-width: 6.5em; }
.line.c .text { color: #67e8f9; } .line.tls .text { color: #e879f9; font-weight: bold; }
.line.note .text { color: #fde047; } .note-text { color: #a1a1aa; margin-left: 1em; }
.line.offending { background: #7f1d1d; outline: 1px solid #f87171; }
.line:target { background: #854d0e; } .flag { color: #fca5a5; }
.why p { margin: .3em 0 .3em 1em; }
@media print {
  nav, .flag { display: none; }
  body { max-width: none; font-size: 11pt; }
  .scroll { overflow: visible; }
  pre { white-space: pre-wrap; background: #fff; color: #000; border: 1px solid #999; }
  .line.c .text, .line.tls .text, .line.note .text { color: #000; }
  .line.offending { background: #fee2e2; }
  .finding, tr, .line { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'none'; script-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def _scorecard(report: Report, rows: list[Row], links: dict[str, str]) -> list[str]:
    categories = shown_categories(rows)
    out = ['<section id="scorecard"><h2>Scorecard</h2>']
    if not categories:
        out.append('<p class="meta">Nothing was checked.</p></section>')
        return out
    head = "".join(f"<th>{html_safe(label)}</th>" for _, label in categories)
    out.append(f'<div class="scroll"><table class="score"><tr><th>Domain / host</th>{head}</tr>')
    for row in rows:
        name = text(row.subject)
        anchor = links.get(row.subject)
        name = f'<a href="#{anchor}">{name}</a>' if anchor else name
        name = f"<strong>{name}</strong>" if row.subject == OVERALL else name
        cells = []
        for category, _ in categories:
            cell = row.cells[category]
            cells.append(f'<td class="v-{cell.verdict}">{text(cell_text(cell))}</td>')
        out.append(f"<tr><td>{name}</td>{''.join(cells)}</tr>")
    out.append("</table></div>")
    out.append(
        '<p class="meta">Checks passed of checks run. pass: every check passed (info findings aside) · warn: a '
        "low or medium finding · fail: a high or critical finding · error: a check crashed or something could "
        "not be probed</p></section>"
    )
    return out


def render(report: Report, *, transcript: bool = False) -> str:
    s = summarize(report)
    errors = listed_errors(could_not_probe(report))
    page = html_sections.Page(report, transcript)
    title = text(describe.headline(report))
    worst = s.worst.value if s.worst else "none"
    details = html_sections.details(page)  # makes the target anchors the scorecard links to
    links = dict(page.target_ids)
    if report.egress is not None:
        links["outbound port 25"] = "egress"
    body = [
        *_scorecard(report, scorecard(report, errors), links),
        *html_sections.findings(page),
        *html_sections.errors(error_lines(errors)),
        *html_sections.interrupted(report),
        *html_sections.passed_checks(page),
        *details,
        *html_sections.explanations(page),
    ]
    toc = [
        ("scorecard", "Scorecard"),
        ("findings", f"Findings ({s.findings})"),
        ("errors", f"Could not probe ({len(errors)})"),
        ("interrupted", f"Interrupted ({len(report.unfinished)} did not finish)"),
        ("passed", "Passed checks"),
        ("details", "Details"),
        ("explanations", "What the findings mean"),
    ]
    present = "\n".join(body)
    nav = "".join(
        f'<li><a href="#{anchor}">{html_safe(label)}</a></li>' for anchor, label in toc if f'id="{anchor}"' in present
    )
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        f'<p class="result s-{worst}">Result: {text(describe.summary_line(report))}</p>',
        f'<p class="meta">{html_safe(describe.run_line(report))}</p>',
        f'<nav aria-label="Contents"><ol>{nav}</ol></nav>',
        present,
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"
