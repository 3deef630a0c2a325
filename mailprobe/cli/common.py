"""The one way a command ends: render, write to stdout or --output and --report, and the exit code.

Exit codes: 0 healthy · 1 findings at or above --fail-on · 2 the probe could not run (bad input, no network,
a target or part of one that could not be probed, the unfinished targets of an interrupted run's report read
back by `merge`) · 130 interrupted (Ctrl-C). The nagios format uses the monitoring-plugins codes instead,
interrupted too: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (see mailprobe.report.nagios).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mailprobe.cli.options import FORMATS
from mailprobe.errors import UsageError
from mailprobe.model import Report, Severity

if TYPE_CHECKING:
    from mailprobe.report.json import Prerendered
    from mailprobe.report.nagios import Thresholds

T = TypeVar("T")

EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2
EXIT_NAGIOS_UNKNOWN = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_OUTPUT_CLOSED = 141  # 128 + SIGPIPE: the reader of standard output went away, as shells report it


def parse_severity(text: str, option: str = "--fail-on") -> Severity | None:
    if text.lower() == "never":
        return None
    try:
        return Severity(text.lower())
    except ValueError:
        raise UsageError(f"bad {option} {text!r}: one of info, low, medium, high, critical, never") from None


@dataclass(frozen=True)
class Output:
    fmt: str = "table"
    path: Path | None = None
    fail_on: Severity | None = Severity.HIGH
    transcript: bool = False
    report_dir: Path | None = None
    warning_on: str = ""  # --warning-on as given ("": the default)
    critical_on: str = ""  # --critical-on as given ("": --fail-on when it was chosen, else high)
    fail_on_chosen: bool = False  # --fail-on (or the profile) chose fail_on: nagios's CRITICAL follows it

    def thresholds(self) -> Thresholds:
        """The nagios state mapping: --critical-on, else a chosen --fail-on, else high; --warning-on, else
        medium (or the critical threshold, when that is lower)."""
        from mailprobe.report.nagios import Thresholds

        if self.critical_on:
            critical = parse_severity(self.critical_on, "--critical-on")
        else:
            critical = self.fail_on if self.fail_on_chosen else Severity.HIGH
        if self.warning_on:
            warning = parse_severity(self.warning_on, "--warning-on")
            if warning is not None and critical is not None and warning.rank > critical.rank:
                raise UsageError(
                    f"--warning-on {warning.value} is above the critical threshold {critical.value}: "
                    "a finding would be CRITICAL before it could be WARNING"
                )
        elif critical is not None and critical.rank < Severity.MEDIUM.rank:
            warning = critical
        else:
            warning = Severity.MEDIUM
        return Thresholds(warning=warning, critical=critical)


def output_options(
    fmt: str,
    json_flag: bool,
    path: Path | None,
    fail_on: str,
    transcript: bool,
    *,
    warning_on: str = "",
    critical_on: str = "",
    fail_on_chosen: bool = True,
) -> Output:
    chosen = "json" if json_flag else fmt.lower()
    if chosen not in FORMATS:
        raise UsageError(f"bad --format {fmt!r}: one of {', '.join(FORMATS)}")
    out = Output(
        chosen,
        path,
        parse_severity(fail_on),
        transcript,
        warning_on=warning_on,
        critical_on=critical_on,
        fail_on_chosen=fail_on_chosen,
    )
    if warning_on or critical_on:  # bad thresholds are bad input, before anything is probed (defaults are good)
        out.thresholds()
    if path is not None:
        check_writable_file(path, "--output")
    return out


def check_writable_file(path: Path, option: str) -> None:
    """Bad input before the run: a file that cannot be written (no such directory, a directory, read-only).
    A file is made and removed beside it, so this holds for root and read-only file systems too."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{option} {terminal_text(str(path))}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"{option} {terminal_text(str(path))}: no such directory {terminal_text(str(parent))!r}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {terminal_text(str(path))}: not writable")
    _try_writing(parent, f"{option} {terminal_text(str(path))}")


def check_writable_dir(path: Path, option: str) -> None:
    """A directory that exists (it is made if need be) and can be written to."""
    where = f"{option} {terminal_text(str(path))}"
    if path.exists() and not path.is_dir():
        raise UsageError(f"{where}: not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{where}: {exc.strerror or exc}") from None
    _try_writing(path, where)


def _try_writing(directory: Path, where: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".mailprobe-", suffix=".tmp"):
            pass
    except OSError as exc:
        raise UsageError(f"{where}: not writable ({exc.strerror or exc})") from None


def terminal_text(value: str) -> str:
    """Input echoed in a message (a file name, a target, a server's words): escaped as on stdout."""
    from mailprobe.report.escape import terminal_safe

    return terminal_safe(value)


def report_errors(report: Report, origin: str = "") -> None:
    """Each error of a finished target on stderr, escaped; `origin` ("FILE:LINE", already escaped) names where
    the target came from when it came from --input."""
    from mailprobe.report.summary import could_not_probe, error_lines, listed_errors

    prefix = f"{origin}: " if origin else ""
    for line in error_lines(listed_errors(could_not_probe(report))):  # unfinished: say_interrupted's line
        sys.stderr.write(f"mailprobe: error: {prefix}{terminal_text(line)}\n")


_interruption_said = False


def say_interrupted(detail: str = "") -> None:
    """The one line on stderr an interrupted run ends with (said once, whoever noticed the Ctrl-C)."""
    global _interruption_said
    if not _interruption_said:
        _interruption_said = True
        sys.stderr.write("mailprobe: interrupted" + (f": {detail}" if detail else "") + "\n")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def exit_code(report: Report, fail_on: Severity | None) -> int:
    """2 when anything could not be probed (the summary's count, which holds the targets an interrupted run did
    not finish), else 1 for findings at or above fail_on."""
    from mailprobe.report.summary import summarize

    if summarize(report).errors:
        return EXIT_CANNOT_RUN
    worst = report.worst()
    if fail_on is not None and worst is not None and worst.rank >= fail_on.rank:
        return EXIT_FINDINGS
    return EXIT_OK


def color_wanted(out: Output) -> bool:
    return out.path is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def emit(report: Report, out: Output, prerendered: Prerendered | None = None) -> int:
    """Render, write to stdout or --output, write --report DIR, and return the exit code. `prerendered`: the
    JSON of the report's results, written as the run went (--format json)."""
    from mailprobe import report as renderers
    from mailprobe.report.files import write_atomic

    if out.fmt == "nagios":
        code, text = renderers.nagios_status(report, out.thresholds())
    elif out.fmt == "json" and prerendered is not None:
        code, text = exit_code(report, out.fail_on), prerendered.render(report)
    else:
        code = exit_code(report, out.fail_on)
        text = renderers.render(
            report, out.fmt, color=color_wanted(out), transcript=out.transcript, width=output_width(out)
        )
    text = text if text.endswith("\n") else text + "\n"
    if out.path is not None:
        try:
            write_atomic(out.path, text)
        except OSError as exc:
            raise UsageError(f"--output {out.path}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
    write_report_dir(report, out)
    return code


def write_report_dir(report: Report, out: Output) -> int:
    """--report DIR: the JSON, Markdown and HTML files and the index, each path named on stderr; the exit code
    (for runs that wrote their main output as they went: JSONL)."""
    from mailprobe.report import files
    from mailprobe.report.escape import terminal_safe

    if out.report_dir is not None:
        try:
            written = files.write_report_dir(report, out.report_dir)
        except OSError as exc:
            raise UsageError(f"--report {out.report_dir}: {exc.strerror or exc}") from None
        for path in written:
            typer.echo(f"report: {terminal_safe(str(path))}", err=True)
    return exit_code(report, out.fail_on)


def output_width(out: Output) -> int:
    """The table's width: the terminal's when writing to it, else COLUMNS or the default (a file, a pipe)."""
    from mailprobe.cli.terminal import terminal_width

    return terminal_width(to_terminal=out.path is None)
