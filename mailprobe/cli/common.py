"""Options every probing command shares, and the one way a command ends: render, write, exit code.

Exit codes: 0 healthy · 1 findings at or above --fail-on · 2 the probe could not run (bad input, no network,
a target or part of one that could not be probed) · 130 interrupted (Ctrl-C). The nagios format uses the
monitoring-plugins codes instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (see mailprobe.report.nagios).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mailprobe.config import Config, Resolver
from mailprobe.errors import UsageError
from mailprobe.model import Report, Service, Severity
from mailprobe.report.nagios import Thresholds
from mailprobe.targets import parse_port

T = TypeVar("T")

EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2
EXIT_NAGIOS_UNKNOWN = 3
FORMATS = ("table", "json", "jsonl", "junit", "markdown", "html", "nagios")

# -- option types (Annotated, so each command lists only what it uses) ------------------------------------------------

ResolverOpt = Annotated[
    str | None, typer.Option("--resolver", help="DNS server to ask, IP[:PORT] or [IPv6]:PORT (default: the system's).")
]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="Upper bound in seconds for connects and each read (default 5/10).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Shorthand for --format json.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help=f"Output format: {', '.join(FORMATS)}.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the output to FILE instead of stdout.")]
PortOpt = Annotated[
    list[str] | None,
    typer.Option("--port", help="SERVICE=PORT for a server on a non-standard port, e.g. smtp=2525 (repeatable)."),
]
CaFileOpt = Annotated[Path | None, typer.Option("--ca-file", help="Extra trust anchor(s), PEM.")]
EhloOpt = Annotated[str, typer.Option("--ehlo-name", help="Name to introduce ourselves with in EHLO.")]
ServernameOpt = Annotated[
    str | None,
    typer.Option(
        "--servername",
        help="The name mail clients use for the server: sent as SNI, certificates are judged against it "
        "(for probing by address).",
    ),
]
NonPublicOpt = Annotated[
    bool, typer.Option("--allow-nonpublic", help="Also probe private/loopback/documentation addresses found in DNS.")
]
FailOnOpt = Annotated[str, typer.Option("--fail-on", help="Exit 1 for findings at or above: info..critical, or never.")]
WarningOnOpt = Annotated[
    str,
    typer.Option("--warning-on", help="--format nagios: WARNING for findings at or above SEVERITY (default medium)."),
]
CriticalOnOpt = Annotated[
    str,
    typer.Option(
        "--critical-on", help="--format nagios: CRITICAL for findings at or above SEVERITY (default --fail-on, high)."
    ),
]
TranscriptOpt = Annotated[bool, typer.Option("--transcript", help="Show each dialogue, annotated.")]
InputOpt = Annotated[
    Path | None, typer.Option("--input", "-i", help="Read targets from FILE ('-' for stdin), one per line, # comments.")
]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Profile name or path (see `mailprobe profiles`).")]
ReportOpt = Annotated[
    Path | None, typer.Option("--report", help="Also write JSON + Markdown + HTML into DIR (e.g. reports/).")
]
BaselineOpt = Annotated[
    Path | None, typer.Option("--baseline", help="An earlier JSON report: every change becomes a finding.")
]
ShardOpt = Annotated[str | None, typer.Option("--shard", help="I/N: take a deterministic share of the targets.")]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Run on a Dask cluster: tcp://SCHEDULER:8786, or local:N worker processes here; "
        "settings after commas: per-destination=N (connections to one address at once, all workers; default 16; "
        "0: each worker's own caps only), "
        "rate=R (connection attempts per second, all workers), chunk=N (targets per task). "
        "Needs pip install 'mailprobe[cluster]'.",
    ),
]
Ipv4Opt = Annotated[bool, typer.Option("-4", help="IPv4 only.")]
Ipv6Opt = Annotated[bool, typer.Option("-6", help="IPv6 only.")]


def parse_resolver(text: str) -> Resolver:
    text = text.strip()
    from mailprobe.targets import _address

    if text.startswith("["):
        inside, _, rest = text[1:].partition("]")
        port = parse_port(rest[1:], "resolver port") if rest.startswith(":") else 53
        host = inside
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = parse_port(port_text, "resolver port")
    else:
        host, port = text, 53
    address = _address(host)
    if address is None:
        raise UsageError(f"bad --resolver {text!r}: give an IP address, IP:PORT or [IPv6]:PORT")
    return Resolver(address, port)


def parse_port_overrides(items: list[str] | None) -> tuple[tuple[Service, int], ...]:
    overrides: list[tuple[Service, int]] = []
    for item in items or []:
        name, sep, port_text = item.partition("=")
        if not sep:
            raise UsageError(f"bad --port {item!r}: use SERVICE=PORT, e.g. smtp=2525")
        try:
            service = Service(name.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in Service)
            raise UsageError(f"bad --port {item!r}: unknown service {name!r} (one of {names})") from None
        overrides.append((service, parse_port(port_text.strip())))
    return tuple(overrides)


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
    out.thresholds()  # bad thresholds are bad input, before anything is probed
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


def build_config(
    *,
    resolver: str | None = None,
    timeout: float | None = None,
    ports: list[str] | None = None,
    ca_file: Path | None = None,
    ehlo_name: str | None = None,
    allow_nonpublic: bool = False,
    ipv4_only: bool = False,
    ipv6_only: bool = False,
    base: Config | None = None,
    **overrides: Any,
) -> Config:
    cfg = base or Config()
    if timeout is not None:
        if not 0 < timeout <= 600:
            raise UsageError(f"bad --timeout {timeout:g}: must be more than 0 and at most 600 seconds")
        limits = replace(
            cfg.limits,
            connect_timeout=timeout,
            read_timeout=timeout,
            session_timeout=max(cfg.limits.session_timeout, timeout * 3),
        )
        cfg = replace(cfg, limits=limits)
    if ca_file is not None and not ca_file.is_file():
        raise UsageError(f"--ca-file {ca_file}: no such file")
    if ipv4_only and ipv6_only:
        raise UsageError("-4 and -6 exclude each other")
    changes: dict[str, Any] = dict(overrides)
    if resolver:
        changes["resolver"] = parse_resolver(resolver)
    if ports:
        changes["ports"] = parse_port_overrides(ports)
    if ca_file is not None:
        changes["ca_file"] = str(ca_file)
    if ehlo_name:
        changes["ehlo_name"] = ehlo_name
    servername = changes.get("servername")
    if servername:
        from mailprobe.dns.names import validate_domain

        changes["servername"] = validate_domain(str(servername))
    if allow_nonpublic:
        changes["allow_nonpublic"] = True
    if ipv4_only:
        changes["ipv6"] = False
    if ipv6_only:
        changes["ipv4"] = False
    return replace(cfg, **changes)


def terminal_text(value: str) -> str:
    """Input echoed in a message (a file name, a target, a server's words): escaped as on stdout."""
    from mailprobe.report.escape import terminal_safe

    return terminal_safe(value)


def report_errors(report: Report, origin: str = "") -> None:
    """Each error of a finished target on stderr, escaped; `origin` ("FILE:LINE", already escaped) names where
    the target came from when it came from --input."""
    from mailprobe.report.summary import could_not_probe, error_lines

    prefix = f"{origin}: " if origin else ""
    for line in error_lines(could_not_probe(report)):
        sys.stderr.write(f"mailprobe: error: {prefix}{terminal_text(line)}\n")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def exit_code(report: Report, fail_on: Severity | None) -> int:
    """2 when anything could not be probed (the summary's count), else 1 for findings at or above fail_on."""
    from mailprobe.report.summary import summarize

    if summarize(report).errors:
        return EXIT_CANNOT_RUN
    worst = report.worst()
    if fail_on is not None and worst is not None and worst.rank >= fail_on.rank:
        return EXIT_FINDINGS
    return EXIT_OK


def color_wanted(out: Output) -> bool:
    return out.path is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ


def emit(report: Report, out: Output) -> int:
    """Render, write to stdout or --output, write --report DIR, and return the exit code."""
    from mailprobe import report as renderers
    from mailprobe.report.escape import terminal_safe
    from mailprobe.report.files import write_atomic, write_report_dir

    if out.fmt == "nagios":
        code, text = renderers.nagios_status(report, out.thresholds())
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
    if out.report_dir is not None:
        try:
            written = write_report_dir(report, out.report_dir)
        except OSError as exc:
            raise UsageError(f"--report {out.report_dir}: {exc.strerror or exc}") from None
        for path in written:
            typer.echo(f"report: {terminal_safe(str(path))}", err=True)
    return code


def output_width(out: Output) -> int:
    """The table's width: the terminal's when writing to it, else COLUMNS or the default (a file, a pipe)."""
    from mailprobe.cli.terminal import terminal_width

    return terminal_width(to_terminal=out.path is None)
