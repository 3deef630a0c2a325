"""`mailprobe profiles`: the shipped profiles, what each runs and expects."""

from __future__ import annotations

from typing import Annotated

import typer

from mailprobe.cli.options import PlainCommand


def register(app: typer.Typer) -> None:
    app.command(
        "profiles", cls=PlainCommand, short_help="The shipped profiles; --check FILE validates one of your own."
    )(profiles)


def profiles(
    check: Annotated[
        str | None,
        typer.Option(
            "--check", metavar="NAME|FILE", show_default=False, help="Validate a profile and say what it sets."
        ),
    ] = None,
) -> None:
    """List the shipped profiles (use one with --profile NAME, or --profile PATH for your own)."""
    from mailprobe.cli.terminal import terminal_width
    from mailprobe.profiles import load_profile, shipped
    from mailprobe.report.layout import fill, table

    if check is not None:
        from mailprobe.report.escape import terminal_safe

        prof = load_profile(check)
        width = terminal_width()  # laid out like every text for people: wrapped at words, never cut
        typer.echo(fill(f"{terminal_safe(prof.path)}: ok", width))
        for line in prof.summary():
            typer.echo(fill(terminal_safe(line), width, "  "))
        return
    rows = []
    for name, path in shipped().items():
        prof = load_profile(str(path))
        rows.append([name, ", ".join(prof.stages), prof.description])
    typer.echo(table(("profile", "stages", "description"), rows, terminal_width(), indent=0))
