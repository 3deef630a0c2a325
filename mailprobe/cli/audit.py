"""`mailprobe audit DOMAIN|HOST...`: the whole pipeline, for an admin, a CI job or a monitor."""

from __future__ import annotations

from typing import Annotated

import typer

from mailprobe.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)


def audit(
    targets: Annotated[list[str] | None, typer.Argument(help="Domains, host names or addresses (HOST[:PORT]).")] = None,
    input_file: c.InputOpt = None,
    profile: c.ProfileOpt = None,
    resolver: c.ResolverOpt = None,
    timeout: c.TimeoutOpt = None,
    json_flag: c.JsonOpt = False,
    fmt: c.FormatOpt = "table",
    output: c.OutputOpt = None,
    port: c.PortOpt = None,
    ca_file: c.CaFileOpt = None,
    ehlo_name: c.EhloOpt = "",
    servername: c.ServernameOpt = None,
    allow_nonpublic: c.NonPublicOpt = False,
    fail_on: c.FailOnOpt = "",
    warning_on: c.WarningOnOpt = "",
    critical_on: c.CriticalOnOpt = "",
    transcript: c.TranscriptOpt = False,
    ipv4_only: c.Ipv4Opt = False,
    ipv6_only: c.Ipv6Opt = False,
    relay_test: Annotated[
        str | None,
        typer.Option("--relay-test", help="INTRUSIVE: test open relaying with RCPT to this domain (one you control)."),
    ] = None,
    dkim_selector: Annotated[
        list[str] | None, typer.Option("--dkim-selector", help="DKIM selector to look up.")
    ] = None,
    baseline: c.BaselineOpt = None,
    report_dir: c.ReportOpt = None,
    shard: c.ShardOpt = None,
    cluster: c.ClusterOpt = None,
) -> None:
    """Resolve, reach, handshake and judge: everything mailprobe knows about a mail domain or host."""
    from mailprobe.cli.batch import run_batch

    raise typer.Exit(
        run_batch(
            command="audit",
            targets=targets,
            input_file=input_file,
            profile=profile,
            shard=shard,
            cluster=cluster,
            baseline=baseline,
            report_dir=report_dir,
            fmt=fmt,
            json_flag=json_flag,
            output_path=output,
            fail_on=fail_on,
            warning_on=warning_on,
            critical_on=critical_on,
            transcript=transcript,
            config_options=dict(
                resolver=resolver,
                timeout=timeout,
                ports=port,
                ca_file=ca_file,
                ehlo_name=ehlo_name,
                allow_nonpublic=allow_nonpublic,
                ipv4_only=ipv4_only,
                ipv6_only=ipv6_only,
                relay_test_domain=relay_test,
                servername=servername,
                dkim_selectors=tuple(dkim_selector or ()),
                check_legacy_tls=True,
            ),
        )
    )
