"""`mailprobe mx DOMAIN...`: everything a mail domain's DNS says, right or wrong."""

from __future__ import annotations

import typer

from mailprobe.cli import options as o


def register(app: typer.Typer) -> None:
    o.command(
        app,
        "mx",
        o.MX,
        summary="A mail domain's DNS: MX, addresses, PTR, SRV, SPF, DMARC, MTA-STS, TLS-RPT, DANE, DKIM.",
        targets=o.TargetsArgument("DOMAIN", "Mail domains."),
    )(mx)


def mx(opts: o.Options) -> None:
    """MX (preference order, implicit, null), addresses, PTR, SRV and policy records (SPF, DMARC, MTA-STS, ...)."""
    from mailprobe.cli.batch import run_batch

    raise typer.Exit(run_batch("mx", opts, stages=("dns",)))
