"""`mailprobe ports HOST...`: open / closed / filtered / unreachable on every address, with the evidence."""

from __future__ import annotations

from typing import Annotated

import typer

from mailprobe.cli import common as c
from mailprobe.errors import UsageError
from mailprobe.targets import parse_port


def register(app: typer.Typer) -> None:
    app.command("ports")(ports)


def parse_port_list(text: str) -> tuple[int, ...]:
    """`25,587,1000-1010`: numbers and ranges, each 1-65535."""
    found: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"bad --ports {text!r}: empty item")
        low, sep, high = part.partition("-")
        if sep:
            first, last = parse_port(low, "port"), parse_port(high, "port")
            if first > last:
                raise UsageError(f"bad --ports range {part!r}: start after end")
            found.extend(range(first, last + 1))
        else:
            found.append(parse_port(part, "port"))
    return tuple(dict.fromkeys(found))


def ports(
    targets: Annotated[list[str] | None, typer.Argument(help="Host names or addresses.")] = None,
    port_list: Annotated[
        str | None, typer.Option("--ports", "-p", help="Ports to probe, e.g. 25,587,2525-2530.")
    ] = None,
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
    ipv4_only: c.Ipv4Opt = False,
    ipv6_only: c.Ipv6Opt = False,
    raw: Annotated[bool, typer.Option("--raw", help="SYN probes with scapy (root): TTL, IP ID, ICMP source.")] = False,
) -> None:
    """Probe the seven mail ports (or --ports) on every address of every target, IPv4 and IPv6."""
    from mailprobe.cli.batch import run_batch

    options: dict[str, object] = dict(resolver=resolver, timeout=timeout, ipv4_only=ipv4_only, ipv6_only=ipv6_only)
    if port_list is not None:
        options["scan_ports"] = parse_port_list(port_list)
    if raw:
        from mailprobe.config import Config
        from mailprobe.probes.ports import raw_fallback_reason

        options["raw"] = True
        reason = raw_fallback_reason(Config(raw=True))
        if reason:  # said once, up front; the scan itself falls back to connect mode
            typer.echo(f"mailprobe: {reason}", err=True)
    raise typer.Exit(
        run_batch(
            command="ports",
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
            config_options=options,
            stages=("ports",),
        )
    )
