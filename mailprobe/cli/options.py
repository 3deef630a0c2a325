"""Every shared command-line option, declared once: each field of `Options` is one option (flags, metavar,
help), and each command names the fields it takes (`command(app, "mx", MX_OPTIONS, ...)`).

A command receives one typed `Options` (plus its own parameters, if it has any that no other command shares)
and turns it into what the run needs: `opts.output()` (format, file, thresholds) and `opts.config(base)`
(mailprobe.config.Config). Help texts say defaults in words; metavars name what to type, never a Python type.
"""

# No `from __future__ import annotations` here: the fields' Annotated types are the declarations, read as
# objects at start-up (no string evaluation).
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand

from mailprobe.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT, SESSION_FACTOR, SESSION_TIMEOUT

if TYPE_CHECKING:
    from mailprobe.cli.common import Output
    from mailprobe.config import Config

FORMATS = ("table", "json", "jsonl", "junit", "markdown", "html", "nagios")
SEVERITIES = "info, low, medium, high, critical or never"


def _option(*flags: str, metavar: str | None = None, help: str) -> Any:
    return typer.Option(*flags, metavar=metavar, help=help, show_default=False)


@dataclass(frozen=True)
class Options:
    """What a command was asked, as typed (checked and converted by `output()` and `config()`)."""

    targets: tuple[str, ...] = ()  # the command's arguments (each command declares its own wording)
    input_file: Annotated[
        Path | None,
        _option(
            "--input",
            "-i",
            metavar="FILE",
            help="Read targets from FILE, one per line (# starts a comment); '-' reads standard input.",
        ),
    ] = None
    profile: Annotated[
        str | None,
        _option(
            "--profile",
            metavar="NAME|FILE",
            help="Run a profile: a shipped one (see `mailprobe profiles`) or a TOML file of your own.",
        ),
    ] = None
    resolver: Annotated[
        str | None,
        _option(
            "--resolver",
            metavar="IP[:PORT]",
            help="Ask this DNS server ([IPv6]:PORT for IPv6). Default: the system's resolver.",
        ),
    ] = None
    timeout: Annotated[
        float | None,
        _option(
            "--timeout",
            metavar="SECONDS",
            help=f"Wait at most this long for a connect and for each reply; a whole dialogue gets {SESSION_FACTOR} "
            f"times as long. Default: {CONNECT_TIMEOUT:g} for a connect, {READ_TIMEOUT:g} for a reply, "
            f"{SESSION_TIMEOUT:g} for a dialogue.",
        ),
    ] = None
    json_flag: Annotated[bool, _option("--json", help="Write JSON.")] = False
    fmt: Annotated[
        str,
        _option("--format", "-f", metavar="FORMAT", help=f"Output format: {', '.join(FORMATS)}. Default: {{default}}."),
    ] = "table"
    output_file: Annotated[
        Path | None, _option("--output", "-o", metavar="FILE", help="Write the report to FILE instead of stdout.")
    ] = None
    port: Annotated[
        list[str] | None,
        _option(
            "--port",
            metavar="SERVICE=PORT",
            help="A service on a port of its own, e.g. smtp=2525 (repeatable). Services: smtp, submission, "
            "submissions, pop3, pop3s, imap, imaps.",
        ),
    ] = None
    scan_ports: Annotated[
        str | None,
        _option(
            "--ports", "-p", metavar="LIST", help="Ports to probe, e.g. 25,587,2525-2530. Default: the 7 mail ports."
        ),
    ] = None
    ca_file: Annotated[
        Path | None, _option("--ca-file", metavar="FILE", help="Also trust the CA certificates in this PEM file.")
    ] = None
    ehlo_name: Annotated[
        str,
        _option("--ehlo-name", metavar="NAME", help="The name to greet with in EHLO. Default: mailprobe.invalid."),
    ] = ""
    servername: Annotated[
        str | None,
        _option(
            "--servername",
            metavar="NAME",
            help="The name mail clients use for the server (when probing an address): sent as SNI, and "
            "certificates are judged against it.",
        ),
    ] = None
    allow_nonpublic: Annotated[
        bool,
        _option(
            "--allow-nonpublic", help="Also probe private, loopback and documentation addresses that DNS points to."
        ),
    ] = False
    fail_on: Annotated[
        str,
        _option(
            "--fail-on",
            metavar="SEVERITY",
            help=f"Exit 1 for findings at or above SEVERITY ({SEVERITIES}). Default: high, or the profile's.",
        ),
    ] = ""
    warning_on: Annotated[
        str,
        _option(
            "--warning-on",
            metavar="SEVERITY",
            help="With --format nagios: WARNING for findings at or above SEVERITY. Default: medium.",
        ),
    ] = ""
    critical_on: Annotated[
        str,
        _option(
            "--critical-on",
            metavar="SEVERITY",
            help="With --format nagios: CRITICAL for findings at or above SEVERITY. Default: the --fail-on "
            "severity, else high.",
        ),
    ] = ""
    transcript: Annotated[bool, _option("--transcript", help="Show each dialogue, annotated.")] = False
    ipv4_only: Annotated[bool, _option("-4", help="IPv4 only.")] = False
    ipv6_only: Annotated[bool, _option("-6", help="IPv6 only.")] = False
    relay_test: Annotated[
        str | None,
        _option(
            "--relay-test",
            metavar="DOMAIN",
            help="INTRUSIVE: test for an open relay with RCPT TO an address in DOMAIN (use one you control).",
        ),
    ] = None
    dkim_selector: Annotated[
        list[str] | None,
        _option("--dkim-selector", metavar="SELECTOR", help="A DKIM selector to look up (repeatable)."),
    ] = None
    dnsbl: Annotated[
        list[str] | None,
        _option("--dnsbl", metavar="ZONE", help="A DNS blocklist zone to look the MX addresses up in (repeatable)."),
    ] = None
    legacy_tls: Annotated[bool, _option("--legacy-tls", help="Also test whether TLS 1.0 and 1.1 are accepted.")] = False
    baseline: Annotated[
        Path | None,
        _option("--baseline", metavar="FILE", help="An earlier JSON report: every change since then is a finding."),
    ] = None
    report_dir: Annotated[
        Path | None,
        _option("--report", metavar="DIR", help="Also write the report as JSON, Markdown and HTML into DIR."),
    ] = None
    shard: Annotated[
        str | None, _option("--shard", metavar="I/N", help="Take the I-th of N deterministic shares of the targets.")
    ] = None
    raw: Annotated[
        bool,
        _option("--raw", help="SYN probes instead of connects (root): TTLs, IP IDs and who sent an ICMP error."),
    ] = False
    cluster: Annotated[
        str | None,
        _option(
            "--cluster",
            metavar="ADDRESS",
            help="Run on a Dask cluster: tcp://HOST:PORT (a scheduler), or local:N (N worker processes here); "
            "settings after commas: per-destination=N (connections to one address at once across all workers, "
            "default 16; 0: each worker's own caps only), rate=R (connection attempts per second, all workers), "
            "chunk=N (targets per task). Needs pip install 'mailprobe[cluster]'.",
        ),
    ] = None

    jobs: Annotated[
        int,
        _option(
            "--jobs",
            metavar="N",
            help="Spread the targets over N processes on this machine, so a large run's connects, TLS handshakes and "
            "checks use N cores; together they are as gentle as one (they share the run's limits and starting "
            "windows), each with its own descriptors. Default 0: ports (without --raw) and handshake runs of 64 or "
            "more listed targets use a process per usable core (at most 8, one per 32 targets); audit, mx, "
            "standard input and smaller runs use one.",
        ),
    ] = 0

    # -- what the run needs ----------------------------------------------------------------------------------------

    def output(self, *, fail_on_default: str = "high") -> "Output":
        """Format, file and thresholds, checked before anything is sent (bad values are UsageErrors)."""
        from mailprobe.cli.common import output_options

        return output_options(
            self.fmt,
            self.json_flag,
            self.output_file,
            self.fail_on or fail_on_default,
            self.transcript,
            warning_on=self.warning_on,
            critical_on=self.critical_on,
            fail_on_chosen=bool(self.fail_on),
        )

    def config(self, base: "Config | None" = None) -> "Config":
        """The run's Config: `base` (defaults, or a profile's) with what these options set."""
        from mailprobe.cli.settings import build_config

        return build_config(self, base)


OPTION_NAMES = tuple(f.name for f in fields(Options) if f.name != "targets")

# Which shared options each command takes (the README's table is checked against these).
OUTPUT = ("json_flag", "fmt", "output_file", "warning_on", "critical_on")
_BATCH = (
    "input_file", "shard", "report_dir", "baseline", "profile", "fail_on", *OUTPUT, "resolver", "timeout", "cluster",
    "jobs",
)  # fmt: skip
AUDIT = (*_BATCH, "port", "ca_file", "ehlo_name", "servername", "allow_nonpublic", "transcript",
         "ipv4_only", "ipv6_only", "relay_test", "dkim_selector")  # fmt: skip
MX = (*_BATCH, "ca_file", "allow_nonpublic", "dkim_selector", "dnsbl")
PORTS = (*_BATCH, "scan_ports", "ipv4_only", "ipv6_only", "raw")
HANDSHAKE = (*_BATCH, "port", "ca_file", "ehlo_name", "servername", "transcript", "ipv4_only", "ipv6_only",
             "legacy_tls", "relay_test")  # fmt: skip
EGRESS = (*OUTPUT, "profile", "resolver", "timeout", "ca_file", "ipv4_only", "ipv6_only", "raw")
TRACE = ("json_flag", "resolver", "timeout", "ipv4_only", "ipv6_only")
DEMO = (*OUTPUT, "transcript")
MERGE = (*OUTPUT, "fail_on")


@dataclass(frozen=True)
class TargetsArgument:
    """How a command names its targets in its usage line and help."""

    metavar: str
    help: str


Handler = Callable[..., None]
TAKEN: dict[str, tuple[str, ...]] = {}  # command -> the shared options it takes, as registered


class PlainArgument(TyperArgument):
    """An argument named by its metavar alone: `TARGET...` in help and usage, no `<list[str]>`, no `{HOST}`."""

    def display_type_rich(self, ctx: Any) -> str:
        return ""

    def _rich_display_name(self) -> str:
        return self.display_name_raw + ("..." if self.nargs != 1 else "")

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


class PlainCommand(TyperCommand):
    """Every command's class: its arguments are PlainArguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is TyperArgument:
                param.__class__ = PlainArgument


def command(
    app: typer.Typer,
    name: str,
    takes: Sequence[str],
    *,
    summary: str,
    targets: TargetsArgument | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    """Register `handler(opts: Options, **own)` as command `name` taking the shared options `takes` (field
    names of Options, declared above) and the handler's own parameters. `summary` is the one line
    `mailprobe --help` shows (never cut); `defaults` changes a shared option's default for this command."""
    unknown = [field for field in takes if field not in OPTION_NAMES]
    if unknown:
        raise ValueError(f"{name}: no shared option {unknown}")
    TAKEN[name] = tuple(takes)
    chosen = dict(defaults or {})
    hints = _declarations()
    base = Options()

    def register(handler: Handler) -> Handler:
        own = [p for p in inspect.signature(handler, eval_str=True).parameters.values() if p.name != "opts"]
        shared = [
            inspect.Parameter(
                field,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=_with_default_in_help(hints[field], chosen.get(field, getattr(base, field))),
                default=chosen.get(field, getattr(base, field)),
            )
            for field in takes
        ]
        if "critical_on" in takes and "fail_on" not in takes:  # egress, demo: no --fail-on to default to
            shared = [_without_fail_on(p) if p.name == "critical_on" else p for p in shared]
        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + shared
        if targets is not None:
            argument = typer.Argument(metavar=targets.metavar, help=targets.help, show_default=False)
            params.insert(
                0,
                inspect.Parameter(
                    "targets",
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=Annotated[list[str] | None, argument],
                    default=None,
                ),
            )

        def run(**given: Any) -> None:
            from mailprobe.errors import OutputClosed

            values = {field: given.pop(field) for field in takes}
            if targets is not None:
                values["targets"] = tuple(given.pop("targets") or ())
            try:
                handler(replace(base, **values), **given)
            except BrokenPipeError:  # before typer, which would make it exit code 1: "findings"
                raise OutputClosed from None

        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        run.__doc__ = handler.__doc__
        run.__name__ = handler.__name__
        app.command(name, short_help=summary, cls=PlainCommand)(run)
        return handler

    return register


CRITICAL_ON_HELP = "With --format nagios: CRITICAL for findings at or above SEVERITY. Default: high."


def _without_fail_on(param: inspect.Parameter) -> inspect.Parameter:
    """--critical-on for a command without --fail-on: its help names the default it really has."""
    from copy import copy

    annotation = param.annotation
    kind, info = annotation.__origin__, copy(annotation.__metadata__[0])
    info.help = CRITICAL_ON_HELP
    return param.replace(annotation=Annotated[kind, info])


@functools.cache
def _declarations() -> dict[str, Any]:
    """Each field's Annotated type: the option's declaration."""
    return {field.name: field.type for field in fields(Options)}


def _with_default_in_help(annotation: Any, default: Any) -> Any:
    """The field's Annotated type, its help's `{default}` filled with this command's default."""
    kind, info = annotation.__origin__, annotation.__metadata__[0]
    if info.help and "{default}" in info.help:
        from copy import copy

        info = copy(info)
        info.help = info.help.format(default=default)
    return Annotated[kind, info]
