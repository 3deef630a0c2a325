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


def wants_nagios(argv: list[str]) -> bool:
    """Whether the command line asks for --format nagios (read from the words: the parse itself may be what
    failed). A monitor then gets an UNKNOWN status line and exit code 3 for bad input, never silence."""
    for index, word in enumerate(argv):
        if word in ("--format", "-f") and index + 1 < len(argv):
            if argv[index + 1].lower() == "nagios":
                return True
        elif word.lower() in ("--format=nagios", "-fnagios"):
            return True
    return False


def _usage_error(message: str, argv: list[str]) -> int:
    """One escaped line on stderr (input is echoed in it); with --format nagios also the UNKNOWN line."""
    from mailprobe.report.escape import terminal_safe
    from mailprobe.report.nagios import UNKNOWN, unknown

    typer.echo(f"mailprobe: error: {terminal_safe(message)}", err=True)
    if wants_nagios(argv):
        sys.stdout.write(unknown(message))
        return UNKNOWN
    return 2


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage errors (typer's and ours) become one line on stderr and exit code 2 (with --format
    nagios: an UNKNOWN status line on stdout and exit code 3)."""
    words = list(sys.argv[1:] if argv is None else argv)
    from mailprobe.cli.common import EXIT_INTERRUPTED, say_interrupted

    try:
        code = app(args=argv, standalone_mode=False, prog_name="mailprobe")
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's (vendored click) usage errors
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help(), err=True)
            code = 2
        else:
            code = _usage_error(exc.format_message(), words)
    except UsageError as exc:
        code = _usage_error(str(exc), words)
    except (typer.Abort, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into exit code 130 silently: say it, once
        say_interrupted()
    sys.exit(code if isinstance(code, int) else 0)
