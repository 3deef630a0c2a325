"""The HTML format: one self-contained page (inline CSS, no scripts, no external assets).

Every string that is not ours goes through html_safe (terminal_safe, then html.escape with quotes); a
Content-Security-Policy meta tag forbids scripts and remote loads as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Sequence

from mailprobe.model import HandshakeResult, Report
from mailprobe.report import describe
from mailprobe.report.escape import html_safe
from mailprobe.report.summary import summarize
from mailprobe.report.transcript import render_transcript

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1d1d1f;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .6em 0 1em; width: 100%; }
th, td { border: 1px solid #d4d4d8; padding: .25em .5em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f4f4f5; }
.kv th { width: 12em; font-weight: normal; color: #52525b; }
.sev { font-weight: bold; white-space: nowrap; }
.critical { background: #7f1d1d; color: #fff; } .high { background: #dc2626; color: #fff; }
.medium { background: #f59e0b; } .low { background: #bfdbfe; } .info { background: #e4e4e7; }
.result { font-size: 1.1em; padding: .5em .8em; border-radius: 4px; display: inline-block; }
.none { background: #dcfce7; }
pre { background: #18181b; color: #e4e4e7; padding: .8em; overflow-x: auto; white-space: pre-wrap;
      overflow-wrap: anywhere; }
.meta { color: #52525b; }
"""


def _table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]], css: str = "") -> list[str]:
    """Every cell is escaped here; a multi-line cell keeps its lines (<br>)."""
    out = [f'<table class="{css}">' if css else "<table>"]
    if headers:
        out.append("<tr>" + "".join(f"<th>{html_safe(h)}</th>" for h in headers) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(_cell(i, cell, css) for i, cell in enumerate(row)) + "</tr>")
    out.append("</table>")
    return out


def _cell(index: int, cell: str, css: str) -> str:
    text = html_safe(cell, multiline=True).replace("\n", "<br>")
    return f"<th>{text}</th>" if css == "kv" and index == 0 else f"<td>{text}</td>"


def _handshake(h: HandshakeResult, transcript: bool) -> list[str]:
    out = [f"<h3>{html_safe(describe.handshake_heading(h))}</h3>"]
    out += _table(None, describe.handshake_rows(h) or [("status", h.status.value)], "kv")
    if transcript:
        text = render_transcript(h)  # already terminal-safe; escaped once more for HTML below
        out.append(f"<details><summary>transcript</summary><pre>{html_safe(text, multiline=True)}</pre></details>")
    return out


def render(report: Report, *, transcript: bool = False) -> str:
    s = summarize(report)
    title = html_safe(describe.headline(report))
    worst = s.worst.value if s.worst else "none"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{title}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{title}</h1>",
        f'<p class="result {worst}">Result: {html_safe(describe.summary_line(report))}</p>',
        f'<p class="meta">{html_safe(describe.run_line(report))}</p>',
    ]
    if report.findings:
        out.append("<h2>Findings</h2>")
        out.append(
            "<table><tr><th>Severity</th><th>Code</th><th>Target</th><th>Title</th><th>Evidence</th><th>Fix</th></tr>"
        )
        for f in sorted(report.findings, key=lambda f: -f.severity.rank):
            cells = "".join(f"<td>{html_safe(c)}</td>" for c in (f.code, f.target, f.title, f.evidence, f.fix))
            out.append(f'<tr><td class="sev {f.severity.value}">{f.severity.value.upper()}</td>{cells}</tr>')
        out.append("</table>")
    if report.dns:
        out.append("<h2>DNS</h2>")
    for dns in report.dns:
        out.append(f"<h3>{html_safe(dns.domain)}: {html_safe(describe.dns_heading(dns))}</h3>")
        if dns.mx:
            out += _table(("Pref", "MX", "Addresses", "PTR", "Status"), [describe.mx_rows(mx) for mx in dns.mx])
        if dns.records:
            rows = [(r.kind.value, r.name, r.status.value, r.value, r.detail) for r in dns.records]
            out += _table(("Record", "Name", "Verdict", "Value", "Detail"), rows)
        notes = describe.dns_notes(dns)
        if notes:
            out.append(f"<p>Notes: {html_safe('; '.join(notes))}</p>")
    if report.ports:
        out.append("<h2>Ports</h2>")
        port_rows = [(p.host, *describe.port_row(p)) for p in report.ports]
        out += _table(("Host", "Address", "Port", "Service", "State", "Reason", "ms"), port_rows)
    if report.handshakes:
        out.append("<h2>Handshakes</h2>")
    for h in report.handshakes:
        out += _handshake(h, transcript)
    if report.egress is not None:
        out.append("<h2>Egress</h2>")
        out += _table(None, describe.egress_rows(report.egress), "kv")
        if report.egress.ports:
            port_rows = [(p.host, *describe.port_row(p)) for p in report.egress.ports]
            out += _table(("Host", "Address", "Port", "Service", "State", "Reason", "ms"), port_rows)
        for h in report.egress.handshakes:
            out += _handshake(h, transcript)
    if report.errors:
        out.append("<h2>Errors</h2><ul>")
        out += [f"<li>{html_safe(str(error))}</li>" for error in report.errors]
        out.append("</ul>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
