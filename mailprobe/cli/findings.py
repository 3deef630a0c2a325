"""`mailprobe findings`: the whole catalogue of finding codes, with severity and title."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("findings")(findings)


def findings(json_flag: Annotated[bool, typer.Option("--json", help="Machine-readable catalogue.")] = False) -> None:
    """List every finding code mailprobe can report."""
    from tabulate import tabulate

    from mailprobe.checks.defs import all_codes

    codes = all_codes()
    if json_flag:
        rows = [
            {"code": k.code, "severity": k.severity.value, "title": k.title, "why": k.why, "fix": k.fix}
            for k in codes.values()
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = [(k.code, k.severity.value, k.title) for k in codes.values()]
    typer.echo(tabulate(table, headers=("code", "severity", "title"), tablefmt="simple"))
    typer.echo(f"\n{len(codes)} codes. `mailprobe explain CODE` tells what one means and how to fix it.")
