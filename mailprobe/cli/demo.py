"""`mailprobe demo`: the embedded default. A whole audit of a loopback lab, nothing leaves the machine."""

from __future__ import annotations

import typer

from mailprobe.cli import common as c
from mailprobe.cli import options as o


def register(app: typer.Typer) -> None:
    o.command(app, "demo", o.DEMO, summary="Audit a complete mail system started on 127.0.0.1; nothing leaves.")(demo)


def demo(opts: o.Options) -> None:
    """Start SMTP/POP3/IMAP servers (plain and TLS), a DNS server and a throwaway CA on 127.0.0.1, audit them."""
    from mailprobe.cli.status import showing
    from mailprobe.demo.run import run_demo

    out = opts.output(fail_on_default="never")
    report = c.run(showing(run_demo(transcript=True), "demo.mailprobe.test", "auditing the loopback lab"))
    raise typer.Exit(c.emit(report, out))
