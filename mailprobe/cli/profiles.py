"""`mailprobe profiles`: the shipped profiles, what each runs and expects."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("profiles")(profiles)


def profiles(
    check: Annotated[str | None, typer.Option("--check", help="Validate a profile file and say what it sets.")] = None,
) -> None:
    """List the shipped profiles (use one with --profile NAME, or --profile PATH for your own)."""
    from mailprobe.cli.terminal import terminal_width
    from mailprobe.profiles import load_profile, shipped
    from mailprobe.report.layout import table

    if check is not None:
        prof = load_profile(check)
        typer.echo(f"{prof.path}: ok")
        typer.echo(f"  stages: {', '.join(prof.stages)}; services: {', '.join(s.value for s in prof.services)}")
        typer.echo(f"  fail on: {prof.fail_on.value if prof.fail_on else 'never'}; expectations: {prof.expect}")
        return
    rows = []
    for name, path in shipped().items():
        prof = load_profile(str(path))
        rows.append([name, ", ".join(prof.stages), prof.description])
    typer.echo(table(("profile", "stages", "description"), rows, terminal_width(), indent=0))
