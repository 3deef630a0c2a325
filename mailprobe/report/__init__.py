"""Renderers over the Report model, one module per format, and the one registry the CLI calls.

    render(report, "table", color=True, transcript=True, width=80) -> str
    nagios_status(report, Thresholds(...)) -> (exit code 0-3, text)

Renderers know only mailprobe.model; every string a server (or DNS, or a certificate) supplied goes through
mailprobe.report.escape before it reaches any output.

Each renderer is imported when its format is asked for: a run writing JSONL need not import the HTML,
table and JUnit code (a tenth of a second of start-up together).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mailprobe.errors import UsageError

if TYPE_CHECKING:
    from mailprobe.model import Report
    from mailprobe.report.nagios import Thresholds

FORMATS = ("table", "json", "jsonl", "junit", "markdown", "html", "nagios")
_RENDERERS = frozenset({"html", "json", "jsonl", "junit", "markdown", "nagios", "table"})


def render(
    report: Report, fmt: str, *, color: bool = False, transcript: bool = False, width: int | None = None
) -> str:
    """The report in one of FORMATS. `color` and `width` affect only "table"; `transcript` adds the protocol
    dialogues to "table", "markdown", "html" and "junit" (the machine formats always carry them in full).
    `width` None: the table's default width."""
    if fmt == "table":
        from mailprobe.report import table

        chosen = table.DEFAULT_WIDTH if width is None else width
        return table.render(report, color=color, transcript=transcript, width=chosen)
    if fmt == "json":
        from mailprobe.report import json

        return json.render(report)
    if fmt == "jsonl":
        from mailprobe.report import jsonl

        return jsonl.render(report)
    if fmt == "junit":
        from mailprobe.report import junit

        return junit.render(report, transcript=transcript)
    if fmt == "markdown":
        from mailprobe.report import markdown

        return markdown.render(report, transcript=transcript)
    if fmt == "html":
        from mailprobe.report import html

        return html.render(report, transcript=transcript)
    if fmt == "nagios":
        from mailprobe.report import nagios

        return nagios.render(report)
    raise UsageError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def nagios_status(report: Report, thresholds: Thresholds | None = None) -> tuple[int, str]:
    """mailprobe.report.nagios.nagios_status: (exit code 0-3, the status text)."""
    from mailprobe.report import nagios

    return nagios.nagios_status(report, thresholds)


def __getattr__(name: str) -> Any:
    """`mailprobe.report.html` and the like, imported on first use."""
    if name in _RENDERERS:
        return importlib.import_module(f"mailprobe.report.{name}")
    raise AttributeError(f"module 'mailprobe.report' has no attribute {name!r}")


__all__ = ["FORMATS", "nagios_status", "render"]
