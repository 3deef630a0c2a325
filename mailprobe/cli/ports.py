"""`mailprobe ports HOST...`: open / closed / filtered / unreachable on every address, with the evidence."""

from __future__ import annotations

import typer

from mailprobe.cli import options as o


def register(app: typer.Typer) -> None:
    o.command(
        app,
        "ports",
        o.PORTS,
        summary="Open, closed, filtered or unreachable: the mail ports on every address, with the evidence.",
        targets=o.TargetsArgument("TARGET", "Host names, addresses, CIDR blocks or ranges (198.51.100.0/28)."),
    )(ports)


def ports(opts: o.Options) -> None:
    """Probe the seven mail ports (or --ports) on every address of every target, IPv4 and IPv6."""
    from mailprobe.cli.batch import run_batch

    if opts.raw:
        from mailprobe.config import Config
        from mailprobe.probes.ports import raw_fallback_reason

        reason = raw_fallback_reason(Config(raw=True))
        if reason:  # said once, up front; the scan itself falls back to connect mode
            typer.echo(f"mailprobe: {reason}", err=True)
    raise typer.Exit(run_batch("ports", opts, stages=("ports",)))
