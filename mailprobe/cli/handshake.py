"""`mailprobe handshake HOST[:PORT]...`: greeting, capabilities, STARTTLS, TLS facts, the dialogue."""

from __future__ import annotations

from typing import Annotated

import typer

from mailprobe.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("handshake")(handshake)


def handshake(
    targets: Annotated[list[str] | None, typer.Argument(help="HOST or HOST:PORT ([IPv6]:PORT).")] = None,
    input_file: c.InputOpt = None,
    resolver: c.ResolverOpt = None,
    timeout: c.TimeoutOpt = None,
    json_flag: c.JsonOpt = False,
    fmt: c.FormatOpt = "table",
    output: c.OutputOpt = None,
    port: c.PortOpt = None,
    ca_file: c.CaFileOpt = None,
    ehlo_name: c.EhloOpt = "",
    servername: c.ServernameOpt = None,
    fail_on: c.FailOnOpt = "",
    warning_on: c.WarningOnOpt = "",
    critical_on: c.CriticalOnOpt = "",
    report_dir: c.ReportOpt = None,
    baseline: c.BaselineOpt = None,
    shard: c.ShardOpt = None,
    cluster: c.ClusterOpt = None,
    transcript: c.TranscriptOpt = False,
    ipv4_only: c.Ipv4Opt = False,
    ipv6_only: c.Ipv6Opt = False,
    legacy_tls: Annotated[
        bool, typer.Option("--legacy-tls", help="Also test whether TLS 1.0/1.1 are accepted.")
    ] = False,
    relay_test: Annotated[
        str | None,
        typer.Option("--relay-test", help="INTRUSIVE: test open relaying with RCPT to this domain (one you control)."),
    ] = None,
) -> None:
    """Talk SMTP, POP3 and IMAP to each service (all seven unless a port is given) and record what is offered."""
    from mailprobe.cli.batch import run_batch

    options = dict(
        resolver=resolver,
        timeout=timeout,
        ports=port,
        ca_file=ca_file,
        ehlo_name=ehlo_name,
        ipv4_only=ipv4_only,
        ipv6_only=ipv6_only,
        check_legacy_tls=legacy_tls,
        relay_test_domain=relay_test,
        servername=servername,
    )
    raise typer.Exit(
        run_batch(
            command="handshake",
            targets=targets,
            input_file=input_file,
            shard=shard,
            cluster=cluster,
            fmt=fmt,
            json_flag=json_flag,
            output_path=output,
            report_dir=report_dir,
            baseline=baseline,
            fail_on=fail_on,
            warning_on=warning_on,
            critical_on=critical_on,
            transcript=transcript,
            config_options=options,
            stages=("handshake",),
        )
    )
