"""`mailprobe trace HOST --port 25 --control-port 443`: hop by hop, where do the two ports' paths part? (root)"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import typer

from mailprobe.cli import common as c
from mailprobe.cli import options as o
from mailprobe.errors import UsageError
from mailprobe.targets import parse_target


def register(app: typer.Typer) -> None:
    o.command(
        app, "trace", o.TRACE, summary="Hop by hop to port 25 and a control port: where do the paths part? (root)"
    )(trace)


def _check_port(value: int, option: str) -> int:
    if not 1 <= value <= 65535:
        raise UsageError(f"bad {option} {value}: must be 1-65535")
    return value


def trace(
    opts: o.Options,
    host: Annotated[str, typer.Argument(metavar="HOST", help="Destination: a name or an address.")],
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", show_default=False, help="The port under test. Default: 25.")
    ] = 25,
    control_port: Annotated[
        int,
        typer.Option(
            "--control-port", metavar="PORT", show_default=False, help="The port to compare it with. Default: 443."
        ),
    ] = 443,
    max_hops: Annotated[
        int, typer.Option("--max-hops", metavar="N", show_default=False, help="Highest TTL to try, 1-64. Default: 30.")
    ] = 30,
) -> None:
    """TTL-limited SYNs to --port and --control-port side by side; shows the hop where they diverge."""
    from mailprobe.net.raw import raw_unavailable_reason
    from mailprobe.net.trace import trace as run_trace
    from mailprobe.probes.egress import resolve_target

    _check_port(port, "--port")
    _check_port(control_port, "--control-port")
    if port == control_port:
        raise UsageError("--port and --control-port must differ")
    if not 1 <= max_hops <= 64:
        raise UsageError(f"bad --max-hops {max_hops}: must be 1-64")
    spec = parse_target(host)
    if spec.port is not None or spec.service is not None:
        raise UsageError(f"bad target {host!r}: give the port with --port")
    why_not = raw_unavailable_reason()
    if why_not is not None:
        raise UsageError(f"trace sends TTL-limited SYNs, and {why_not}")
    cfg = opts.config()
    addresses, error = c.run(resolve_target(spec.host, cfg))
    addresses = [a for a in addresses if (":" in a and cfg.ipv6) or (":" not in a and cfg.ipv4)]
    if not addresses:
        raise UsageError(error or f"{host}: no address of the requested family")
    wait = min(cfg.limits.connect_timeout, 2.0)
    from mailprobe.cli.status import showing

    work = run_trace(addresses[0], port, control_port, host=spec.host, max_hops=max_hops, timeout=wait)
    result = c.run(showing(work, f"{spec.host} {port}", f"sending TTL-limited SYNs to {port} and {control_port}"))
    if opts.json_flag:
        sys.stdout.write(json.dumps(dataclasses.asdict(result), indent=2) + "\n")
        return
    from tabulate import tabulate

    rows = [
        [hop.ttl, hop.probe.describe(), hop.control.describe(), "<- diverge" if hop.ttl == result.diverged_at else ""]
        for hop in result.hops
    ]
    typer.echo(f"trace {result.host} [{result.address}]: port {port} vs port {control_port}")
    typer.echo(tabulate(rows, headers=["hop", f"port {port}", f"port {control_port}", ""], tablefmt="simple"))
    typer.echo(result.summary)
