"""Renderers over the Report model, one module per format, and the one registry the CLI calls.

    render(report, "table", color=True, transcript=True, width=80) -> str
    nagios_status(report, Thresholds(...)) -> (exit code 0-3, text)

Renderers know only mailprobe.model; every string a server (or DNS, or a certificate) supplied goes through
mailprobe.report.escape before it reaches any output.
"""

from __future__ import annotations

from mailprobe.errors import UsageError
from mailprobe.model import Report
from mailprobe.report import html, json, jsonl, junit, markdown, nagios, table
from mailprobe.report.nagios import nagios_status

FORMATS = ("table", "json", "jsonl", "junit", "markdown", "html", "nagios")


def render(
    report: Report, fmt: str, *, color: bool = False, transcript: bool = False, width: int = table.DEFAULT_WIDTH
) -> str:
    """The report in one of FORMATS. `color` and `width` affect only "table"; `transcript` adds the protocol
    dialogues to "table", "markdown", "html" and "junit" (the machine formats always carry them in full)."""
    if fmt == "table":
        return table.render(report, color=color, transcript=transcript, width=width)
    if fmt == "json":
        return json.render(report)
    if fmt == "jsonl":
        return jsonl.render(report)
    if fmt == "junit":
        return junit.render(report, transcript=transcript)
    if fmt == "markdown":
        return markdown.render(report, transcript=transcript)
    if fmt == "html":
        return html.render(report, transcript=transcript)
    if fmt == "nagios":
        return nagios.render(report)
    raise UsageError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "nagios_status", "render"]
