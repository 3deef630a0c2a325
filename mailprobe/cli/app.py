"""The typer shell: one command per file, registered here. Bad input ends as one line and exit code 2.

`main()` imports and registers only the command the words name (every command when they name none, for the
help and the "no such command" message): each command module brings its own imports, and building a click
command for every other command's options is start-up time a run does not need. `app`, with every command,
is made on first use (tests, embedding).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from typing import Any

import typer

from mailprobe import __version__
from mailprobe.cli import coercion
from mailprobe.errors import OutputClosed, UsageError

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

def _version(value: bool) -> None:
    if value:
        typer.echo(f"mailprobe {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """mailprobe: resolve, reach, handshake, judge, report."""


def build_app(commands: Iterable[str] = COMMANDS) -> typer.Typer:
    """The typer app with the given commands registered."""
    coercion.install()  # no pydantic for mailprobe's plain options (see cli/coercion.py)
    built = typer.Typer(
        name="mailprobe",
        help="What stands between you and a mail server, and what that server does wrong.",
        add_completion=False,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_root)
    for name in commands:
        try:
            module = importlib.import_module(f"mailprobe.cli.{name}")
        except ModuleNotFoundError as exc:  # a command still being written must not take the others down
            if exc.name != f"mailprobe.cli.{name}":
                raise
            continue
        module.register(built)
    return built


def command_named(argv: list[str]) -> str | None:
    """The command the words name: the first word that is not an option (the root's options take no value),
    when it is one of COMMANDS. None otherwise (also for the root's own help, which lists every command), and
    then every command is registered, which is never wrong."""
    for word in argv:
        if word in ("-h", "--help"):
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def __getattr__(name: str) -> Any:
    if name == "app":
        built = build_app()
        globals()["app"] = built  # made once
        return built
    raise AttributeError(f"module 'mailprobe.cli.app' has no attribute {name!r}")


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
    from mailprobe.cli.common import EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, say_interrupted

    named = command_named(words)
    cli = build_app((named,)) if named is not None else build_app()
    try:
        code = cli(args=argv, standalone_mode=False, prog_name="mailprobe")
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
    except OutputClosed:  # nothing to say: whoever would read it has gone
        code = EXIT_OUTPUT_CLOSED
    if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C into exit code 130 silently: say it, once
        say_interrupted()
    sys.exit(code if isinstance(code, int) else 0)
