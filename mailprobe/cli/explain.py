"""`mailprobe explain CODE`: what a finding means, why it matters, how to fix it, and what it looks like."""

from __future__ import annotations

import textwrap
from typing import Annotated

import typer

from mailprobe.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)


def explain(code: Annotated[str, typer.Argument(help="A finding code, e.g. AUTH-BEFORE-TLS.")]) -> None:
    """Explain one finding code."""
    from mailprobe.checks.defs import all_codes

    codes = all_codes()
    kind = codes.get(code.strip().upper())
    if kind is None:
        close = [c for c in codes if code.strip().upper() in c][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else " (`mailprobe findings` lists them)"
        raise UsageError(f"unknown finding code {code!r}{hint}")
    wrap = textwrap.TextWrapper(width=96, initial_indent="  ", subsequent_indent="  ")
    typer.echo(f"{kind.code}  [{kind.severity.value}]  {kind.title}\n")
    typer.echo("What it means and why it matters:")
    typer.echo(wrap.fill(kind.why) + "\n")
    typer.echo("How to fix it:")
    typer.echo(wrap.fill(kind.fix))
    if kind.example:
        typer.echo("\nWhat it looks like:")
        typer.echo(textwrap.indent(kind.example, "  "))
