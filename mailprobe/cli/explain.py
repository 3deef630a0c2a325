"""`mailprobe explain CODE`: what a finding means, why it matters, how to fix it, and what it looks like."""

from __future__ import annotations

from typing import Annotated

import typer

from mailprobe.cli.options import PlainCommand
from mailprobe.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("explain", cls=PlainCommand, short_help="What one finding means, why it matters, how to fix it.")(
        explain
    )


def explain(
    code: Annotated[str, typer.Argument(metavar="CODE", help="A finding code, e.g. AUTH-BEFORE-TLS.")],
) -> None:
    """Explain one finding code."""
    from mailprobe.checks.defs import all_codes
    from mailprobe.cli.terminal import terminal_width
    from mailprobe.report.layout import fill, wrap_lines

    codes = all_codes()
    kind = codes.get(code.strip().upper())
    if kind is None:
        close = [c for c in codes if code.strip().upper() in c][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else " (`mailprobe findings` lists them)"
        raise UsageError(f"unknown finding code {code!r}{hint}")
    width = terminal_width()
    typer.echo(fill(f"{kind.code}  [{kind.severity.value}]  {kind.title}", width) + "\n")
    typer.echo("What it means and why it matters:")
    typer.echo(fill(kind.why, width, "  ", hang=0) + "\n")
    typer.echo("How to fix it:")
    typer.echo(fill(kind.fix, width, "  ", hang=0))
    if kind.example:
        typer.echo("\nWhat it looks like:")  # a dialogue or a record: long lines continue indented
        typer.echo("\n".join(wrap_lines(kind.example, width, "  ", "      ")))
