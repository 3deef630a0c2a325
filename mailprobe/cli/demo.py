"""`mailprobe demo`: the embedded default. A whole audit of a loopback lab, nothing leaves the machine."""

from __future__ import annotations

import typer

from mailprobe.cli import common as c
from mailprobe.cli import options as o

DOMAIN = "demo.mailprobe.test"  # the lab's mail domain (mailprobe.demo.lab)


def register(app: typer.Typer) -> None:
    o.command(app, "demo", o.DEMO, summary="Audit a complete mail system started on 127.0.0.1; nothing leaves.")(demo)


def demo(opts: o.Options) -> None:
    """Start SMTP/POP3/IMAP servers (plain and TLS), a DNS server and a throwaway CA on 127.0.0.1, audit them."""
    import datetime as dt
    import time

    from mailprobe import __version__
    from mailprobe.cli.status import showing
    from mailprobe.cli.stream import interrupted_code, until_interrupted
    from mailprobe.demo.run import run_demo
    from mailprobe.model import Report

    out = opts.output(fail_on_default="never")
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    clock = time.monotonic()
    work = showing(run_demo(transcript=True), DOMAIN, "auditing the loopback lab")
    report, interrupted = c.run(until_interrupted(work))
    if report is not None and not interrupted:
        raise typer.Exit(c.emit(report, out))
    # Ctrl-C: the demo's audit is one piece, so nothing finished; the report says so, in every format.
    elapsed = round((time.monotonic() - clock) * 1000, 1)
    empty = Report(
        "demo", (DOMAIN,), started, elapsed, interrupted=True, unfinished=(DOMAIN,), tool_version=__version__
    )
    code = c.emit(empty, out)
    c.say_interrupted("the demo's audit did not finish")
    raise typer.Exit(interrupted_code(code, out))
