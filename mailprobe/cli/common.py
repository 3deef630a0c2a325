"""Options every probing command shares, and the one way a command ends: render, write, exit code.

Exit codes: 0 healthy · 1 findings at or above --fail-on · 2 the probe could not run (bad input, no network,
a target that could not be probed). The nagios format uses the monitoring-plugins codes 0/1/2/3 instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mailprobe.config import Config, Resolver
from mailprobe.errors import UsageError
from mailprobe.model import Report, Service, Severity
from mailprobe.targets import parse_port

T = TypeVar("T")

EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2
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
NonPublicOpt = Annotated[
    bool, typer.Option("--allow-nonpublic", help="Also probe private/loopback/documentation addresses found in DNS.")
]
FailOnOpt = Annotated[str, typer.Option("--fail-on", help="Exit 1 for findings at or above: info..critical, or never.")]
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


def parse_severity(text: str) -> Severity | None:
    if text.lower() == "never":
        return None
    try:
        return Severity(text.lower())
    except ValueError:
        raise UsageError(f"bad --fail-on {text!r}: one of info, low, medium, high, critical, never") from None


@dataclass(frozen=True)
class Output:
    fmt: str = "table"
    path: Path | None = None
    fail_on: Severity | None = Severity.HIGH
    transcript: bool = False
    report_dir: Path | None = None


def output_options(fmt: str, json_flag: bool, path: Path | None, fail_on: str, transcript: bool) -> Output:
    chosen = "json" if json_flag else fmt.lower()
    if chosen not in FORMATS:
        raise UsageError(f"bad --format {fmt!r}: one of {', '.join(FORMATS)}")
    return Output(chosen, path, parse_severity(fail_on), transcript)


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
    if allow_nonpublic:
        changes["allow_nonpublic"] = True
    if ipv4_only:
        changes["ipv6"] = False
    if ipv6_only:
        changes["ipv4"] = False
    return replace(cfg, **changes)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def exit_code(report: Report, fail_on: Severity | None) -> int:
    if report.errors:
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

    text = renderers.render(report, out.fmt, color=color_wanted(out), transcript=out.transcript)
    if out.path is not None:
        try:
            out.path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {out.path}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if out.report_dir is not None:
        from mailprobe.report.files import write_report_dir

        for written in write_report_dir(report, out.report_dir):
            typer.echo(f"report: {written}", err=True)
    if out.fmt == "nagios":
        return renderers.nagios_status(report)[0]
    return exit_code(report, out.fail_on)
