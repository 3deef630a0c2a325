"""`mailprobe mx DOMAIN...`: everything a mail domain's DNS says, right or wrong."""

from __future__ import annotations

from typing import Annotated

import typer

from mailprobe.cli import common as c


def register(app: typer.Typer) -> None:
    app.command("mx")(mx)


def mx(
    domains: Annotated[list[str] | None, typer.Argument(help="Mail domains.")] = None,
    input_file: c.InputOpt = None,
    resolver: c.ResolverOpt = None,
    timeout: c.TimeoutOpt = None,
    json_flag: c.JsonOpt = False,
    fmt: c.FormatOpt = "table",
    output: c.OutputOpt = None,
    fail_on: c.FailOnOpt = "",
    warning_on: c.WarningOnOpt = "",
    critical_on: c.CriticalOnOpt = "",
    report_dir: c.ReportOpt = None,
    baseline: c.BaselineOpt = None,
    shard: c.ShardOpt = None,
    cluster: c.ClusterOpt = None,
    ca_file: c.CaFileOpt = None,
    allow_nonpublic: c.NonPublicOpt = False,
    dkim_selector: Annotated[
        list[str] | None, typer.Option("--dkim-selector", help="DKIM selector to look up.")
    ] = None,
    dnsbl: Annotated[
        list[str] | None, typer.Option("--dnsbl", help="DNS blocklist zone to check MX addresses in.")
    ] = None,
) -> None:
    """MX (preference order, implicit, null), addresses, PTR, SRV and policy records (SPF, DMARC, MTA-STS, ...)."""
    from mailprobe.cli.batch import run_batch

    options = dict(
        resolver=resolver,
        timeout=timeout,
        ca_file=ca_file,
        allow_nonpublic=allow_nonpublic,
        dkim_selectors=tuple(dkim_selector or ()),
    )
    if dnsbl:
        options["dnsbl_zones"] = tuple(dnsbl)
    raise typer.Exit(
        run_batch(
            command="mx",
            targets=domains,
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
            config_options=options,
            stages=("dns",),
        )
    )
