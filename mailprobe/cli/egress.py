"""`mailprobe egress`: does this network block (or intercept) outbound port 25? One verdict, with evidence.

Without --target it contacts the public destinations of the `isp-check` profile (or --profile's);
`--list-targets` prints them, and the ports, without sending anything.

Exit codes: 0 open · 1 blocked-drop / blocked-reset / blocked-icmp / intercepted / all-blocked ·
2 bad input (an unusable --resolver included) · 3 inconclusive · 130 interrupted (what finished is rendered,
marked interrupted). With --format nagios the code is the status word's (OK 0 ... UNKNOWN 3), interrupted too;
inconclusive is UNKNOWN. A destination that does not resolve is an error of the run (counted by every format,
said on stderr), and evidence for the verdict.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from mailprobe import __version__
from mailprobe.cli import common as c
from mailprobe.cli import options as o
from mailprobe.errors import UsageError
from mailprobe.targets import parse_port, parse_target

if TYPE_CHECKING:
    from mailprobe.config import Config
    from mailprobe.model import EgressResult, RunError
    from mailprobe.profiles import Profile

DEFAULT_PROFILE = "isp-check"
SMTP_PORT = 25


def register(app: typer.Typer) -> None:
    o.command(
        app,
        "egress",
        o.EGRESS,
        summary="Does this network let port 25 out? Open, blocked or intercepted, with the evidence.",
    )(egress)


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
            if spec.port is not None or spec.service is not None:
                raise UsageError(f"bad --target {part!r}: give a name or address without a port")
            found.append(spec.host)
    return tuple(dict.fromkeys(found))


def egress(
    opts: o.Options,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            metavar="HOST",
            show_default=False,
            help="A destination to test, a name or an address (repeatable). Default: the profile's, which are "
            "public mail servers (--list-targets shows them).",
        ),
    ] = None,
    control_port: Annotated[
        list[str] | None,
        typer.Option(
            "--control-port",
            metavar="PORTS",
            show_default=False,
            help="Ports compared with 25 (repeatable or a comma list). Default: the profile's, 587,465,443.",
        ),
    ] = None,
    list_targets: Annotated[
        bool,
        typer.Option("--list-targets", help="Print the destinations and ports a run would contact, and send nothing."),
    ] = False,
) -> None:
    """Compare outbound port 25 with control ports on several destinations: open, blocked, intercepted?

    Without --target it contacts the public mail servers of the isp-check profile (see --list-targets)."""
    from mailprobe.profiles import load_profile

    out = opts.output(fail_on_default="never")
    prof = load_profile(opts.profile or DEFAULT_PROFILE) if (opts.profile or not target or not control_port) else None
    targets = parse_targets(target) if target else (prof.egress_targets if prof else ())
    if not targets:
        raise UsageError("no egress targets: give --target or a profile with [egress] targets")
    ports = parse_ports(control_port) if control_port else (prof.control_ports if prof else (587, 465, 443))
    if SMTP_PORT in ports:
        raise UsageError("bad --control-port 25: the control ports are compared with 25, they cannot include it")
    if list_targets:
        _list(targets, ports, prof if not target else None, as_json=out.fmt == "json")
        return
    cfg = opts.config()
    raise typer.Exit(_run(cfg, targets, ports, out, prof if not target else None))


def _list(targets: tuple[str, ...], ports: tuple[int, ...], prof: Profile | None, *, as_json: bool) -> None:
    """What a run would contact; nothing is sent (not even a DNS query)."""
    if as_json:
        data = {"profile": prof.name if prof else None, "port": SMTP_PORT, "control_ports": list(ports)}
        typer.echo(json.dumps({**data, "targets": list(targets)}, indent=2))
        return
    source = f"profile {prof.name}" if prof is not None else "--target"
    typer.echo(f"mailprobe egress would compare port {SMTP_PORT} with {', '.join(map(str, ports))} on ({source}):")
    for name in targets:
        typer.echo(f"  {c.terminal_text(name)}")
    typer.echo("Nothing was sent. Give --target HOST (repeatable) to test other destinations.")


def _run(cfg: Config, targets: tuple[str, ...], ports: tuple[int, ...], out: c.Output, prof: Profile | None) -> int:
    from mailprobe.checks.egress import exit_code
    from mailprobe.cli.stream import interrupted_code, until_interrupted
    from mailprobe.engine import judged
    from mailprobe.model import Report

    if cfg.raw:
        from mailprobe.net.raw import raw_unavailable_reason

        why_not = raw_unavailable_reason()
        if why_not is not None:
            typer.echo(f"mailprobe: --raw: {why_not}; using connect mode instead", err=True)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    clock = time.monotonic()
    known = prof.egress_starttls if prof is not None else ()
    outcome, interrupted = c.run(until_interrupted(_measure(cfg, targets, ports, known)))
    result, errors = outcome if outcome is not None else (None, ())
    report = judged(
        Report(
            command="egress",
            targets=targets,
            started_at=started,
            elapsed_ms=round((time.monotonic() - clock) * 1000, 1),
            egress=result,
            errors=errors,
            interrupted=interrupted,
            unfinished=targets if interrupted else (),
            profile=prof.name if prof is not None else None,
            tool_version=__version__,
        )
    )
    c.report_errors(report)  # each destination that could not be probed, escaped, as every command does
    code = c.emit(report, out)  # nagios: the status word's code; the other formats: the verdict's, below
    if interrupted or result is None:
        c.say_interrupted(f"the egress test did not finish ({len(targets)} destinations)")
        return interrupted_code(code, out)
    return code if out.fmt == "nagios" else exit_code(result.verdict)


async def _measure(
    cfg: Config, targets: tuple[str, ...], ports: tuple[int, ...], known: tuple[str, ...]
) -> tuple[EgressResult, tuple[RunError, ...]]:
    """The resolver checked first when a named destination needs DNS (an unusable --resolver is bad input, as
    for every command), then the measurement under a status line."""
    from mailprobe.cli.status import showing
    from mailprobe.dns.names import is_address
    from mailprobe.probes.egress import egress_run

    if cfg.resolver is not None and any(not is_address(name) for name in targets):
        from mailprobe.dns import check_resolver

        await check_resolver(cfg)
    doing = f"comparing port {SMTP_PORT} with {', '.join(map(str, ports))} on {len(targets)} destinations"
    work = egress_run(cfg, targets, ports, cfg.raw, starttls_known=known)
    return await showing(work, "egress", doing)
