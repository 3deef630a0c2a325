"""`mailprobe demo`: the embedded default. A whole audit of a loopback lab, nothing leaves the machine."""

from __future__ import annotations

import typer

from mailprobe.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    json_flag: c.JsonOpt = False,
    fmt: c.FormatOpt = "table",
    output: c.OutputOpt = None,
    transcript: c.TranscriptOpt = False,
    warning_on: c.WarningOnOpt = "",
    critical_on: c.CriticalOnOpt = "",
) -> None:
    """Start SMTP/POP3/IMAP servers (plain and TLS), a DNS server and a throwaway CA on 127.0.0.1, audit them."""
    from mailprobe.demo.run import run_demo

    out = c.output_options(
        fmt,
        json_flag,
        output,
        "never",
        transcript,
        warning_on=warning_on,
        critical_on=critical_on,
        fail_on_chosen=False,
    )
    report = c.run(run_demo(transcript=True))
    raise typer.Exit(c.emit(report, out))
