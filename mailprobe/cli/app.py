"""The typer shell: one command per file, registered here. Bad input ends as one line and exit code 2."""

from __future__ import annotations

import importlib
import sys

import typer

from mailprobe import __version__
from mailprobe.errors import UsageError

COMMANDS = (
    "audit",
    "mx",
    "ports",
    "handshake",
    "egress",
    "trace",
    "demo",
    "findings",
    "explain",
    "profiles",
    "merge",
)

app = typer.Typer(
    name="mailprobe",
    help="What stands between you and a mail server, and what that server does wrong.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailprobe {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """mailprobe: resolve, reach, handshake, judge, report."""


for _name in COMMANDS:
    try:
        _module = importlib.import_module(f"mailprobe.cli.{_name}")
    except ModuleNotFoundError as _exc:  # a command still being written must not take the others down
        if _exc.name != f"mailprobe.cli.{_name}":
            raise
        continue
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors (typer's and ours) become one line on stderr and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False, prog_name="mailprobe")
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's (vendored click) usage errors
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help(), err=True)
        else:
            typer.echo(f"mailprobe: error: {exc.format_message()}", err=True)
        code = 2
    except UsageError as exc:
        typer.echo(f"mailprobe: error: {exc}", err=True)
        code = 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("mailprobe: interrupted", err=True)
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
