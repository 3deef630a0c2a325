"""`mailprobe findings`: the whole catalogue of finding codes, with severity and title."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mailprobe.cli.options import PlainCommand


def register(app: typer.Typer) -> None:
    app.command("findings", cls=PlainCommand, short_help="Every finding code mailprobe can report, with its severity.")(
        findings
    )


def findings(json_flag: Annotated[bool, typer.Option("--json", help="Machine-readable catalogue.")] = False) -> None:
    """List every finding code mailprobe can report."""
    from mailprobe.checks.defs import all_codes
    from mailprobe.cli.terminal import terminal_width
    from mailprobe.report.layout import fill, table

    codes = all_codes()
    if json_flag:
        rows = [
            {"code": k.code, "severity": k.severity.value, "title": k.title, "why": k.why, "fix": k.fix}
            for k in codes.values()
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    width = terminal_width()
    listed = [[k.code, k.severity.value, k.title] for k in codes.values()]
    typer.echo(table(("code", "severity", "title"), listed, width, 0, lambda r: f"{r[0]}  [{r[1]}]  {r[2]}"))
    typer.echo(
        "\n" + fill(f"{len(codes)} codes. `mailprobe explain CODE` tells what one means and how to fix it.", width)
    )
