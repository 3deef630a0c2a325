"""`mailprobe egress`: does this network block (or intercept) outbound port 25? One verdict, with evidence.

Exit codes: 0 open · 1 blocked-drop / blocked-reset / blocked-icmp / intercepted / all-blocked ·
2 bad input · 3 inconclusive. With --format nagios the code is the status word's (OK 0 ... UNKNOWN 3).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import typer

from mailprobe import __version__
from mailprobe.cli import common as c
from mailprobe.errors import UsageError
from mailprobe.targets import parse_port, parse_target

DEFAULT_PROFILE = "isp-check"


def register(app: typer.Typer) -> None:
    app.command("egress")(egress)


def parse_ports(items: list[str]) -> tuple[int, ...]:
    """Repeatable and comma-separated: `--control-port 587,465 --control-port 443`."""
    found: list[int] = []
    for item in items:
        for part in item.split(","):
            if not part.strip():
                raise UsageError(f"bad --control-port {item!r}: empty item")
            found.append(parse_port(part.strip(), "control port"))
    return tuple(dict.fromkeys(found))


def parse_targets(items: list[str]) -> tuple[str, ...]:
    """Names or addresses, without ports: port 25 and the control ports are what is compared."""
    found = []
    for item in items:
        for part in item.split(","):
            spec = parse_target(part)
            if spec.port is not None:
                raise UsageError(f"bad --target {part!r}: give a name or address without a port")
            found.append(spec.host)
    return tuple(dict.fromkeys(found))


def egress(
    target: Annotated[
        list[str] | None,
        typer.Option("--target", "-t", help="Destination to test (name or address; repeatable). Default: profile."),
    ] = None,
    control_port: Annotated[
        list[str] | None,
        typer.Option("--control-port", help="Port compared with 25 (repeatable or comma list). Default 587,465,443."),
    ] = None,
    profile: c.ProfileOpt = None,
    resolver: c.ResolverOpt = None,
    timeout: c.TimeoutOpt = None,
    json_flag: c.JsonOpt = False,
    fmt: c.FormatOpt = "table",
    output: c.OutputOpt = None,
    warning_on: c.WarningOnOpt = "",
    critical_on: c.CriticalOnOpt = "",
    ca_file: c.CaFileOpt = None,
    ipv4_only: c.Ipv4Opt = False,
    ipv6_only: c.Ipv6Opt = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="SYN probes (root): tell a forged RST from the server's by its TTL.")
    ] = False,
) -> None:
    """Compare outbound port 25 with control ports on several destinations: open, blocked, intercepted?"""
    from mailprobe.checks.egress import exit_code
    from mailprobe.engine import judged
    from mailprobe.model import Report
    from mailprobe.probes.egress import egress as run_egress
    from mailprobe.profiles import load_profile

    out = c.output_options(
        fmt, json_flag, output, "never", False, warning_on=warning_on, critical_on=critical_on, fail_on_chosen=False
    )
    prof = load_profile(profile or DEFAULT_PROFILE) if (profile or not target or not control_port) else None
    targets = parse_targets(target) if target else (prof.egress_targets if prof else ())
    if not targets:
        raise UsageError("no egress targets: give --target or a profile with [egress] targets")
    ports = parse_ports(control_port) if control_port else (prof.control_ports if prof else (587, 465, 443))
    if 25 in ports:
        raise UsageError("bad --control-port 25: the control ports are compared with 25, they cannot include it")
    cfg = c.build_config(
        resolver=resolver, timeout=timeout, ca_file=ca_file, ipv4_only=ipv4_only, ipv6_only=ipv6_only, raw=raw
    )
    if raw:
        from mailprobe.net.raw import raw_unavailable_reason

        why_not = raw_unavailable_reason()
        if why_not is not None:
            typer.echo(f"mailprobe: --raw: {why_not}; using connect mode instead", err=True)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    clock = time.monotonic()
    known = prof.egress_starttls if prof is not None and not target else ()
    result = c.run(run_egress(cfg, targets, ports, raw, starttls_known=known))
    report = judged(
        Report(
            command="egress",
            targets=targets,
            started_at=started,
            elapsed_ms=round((time.monotonic() - clock) * 1000, 1),
            egress=result,
            profile=prof.name if prof is not None and not target else None,
            tool_version=__version__,
        )
    )
    code = c.emit(report, out)  # nagios: the status word's code; the other formats: the verdict's, below
    raise typer.Exit(code if out.fmt == "nagios" else exit_code(result.verdict))
