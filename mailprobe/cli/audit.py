"""`mailprobe audit DOMAIN|HOST...`: the whole pipeline, for an admin, a CI job or a monitor."""

from __future__ import annotations

import typer

from mailprobe.cli import options as o


def register(app: typer.Typer) -> None:
    o.command(
        app,
        "audit",
        o.AUDIT,
        summary="Everything about a mail domain or host: DNS, ports, handshakes, findings.",
        targets=o.TargetsArgument(
            "TARGET", "Mail domains, host names or addresses: HOST[:PORT][/SERVICE], [IPv6]:PORT."
        ),
    )(audit)


def audit(opts: o.Options) -> None:
    """Resolve, reach, handshake and judge: everything mailprobe knows about a mail domain or host."""
    from mailprobe.cli.batch import run_batch

    raise typer.Exit(run_batch("audit", opts))
