"""`mailprobe handshake HOST[:PORT][/SERVICE]...`: greeting, capabilities, STARTTLS, TLS facts, the dialogue."""

from __future__ import annotations

import typer

from mailprobe.cli import options as o


def register(app: typer.Typer) -> None:
    o.command(
        app,
        "handshake",
        o.HANDSHAKE,
        summary="Talk SMTP, POP3 and IMAP up to and through TLS; record what each service offers.",
        targets=o.TargetsArgument(
            "TARGET",
            "HOST, HOST:PORT, HOST:PORT/SERVICE ([IPv6]:PORT), or a block. A port with no registered service "
            "is told by its greeting; /SERVICE (smtp, submission, submissions, pop3, pop3s, imap, imaps) "
            "says it.",
        ),
    )(handshake)


def handshake(opts: o.Options) -> None:
    """Talk SMTP, POP3 and IMAP to each service (all seven unless a port is given) and record what is offered."""
    from mailprobe.cli.batch import run_batch

    raise typer.Exit(run_batch("handshake", opts, stages=("handshake",)))
