"""The library API: every stage on its own and the whole pipeline, as coroutines returning the report model.

import asyncio, mailprobe
from mailprobe.config import Config, Resolver
report = asyncio.run(mailprobe.audit(["example.org"], Config(resolver=Resolver("198.51.100.53"))))
report = asyncio.run(mailprobe.audit(["example.org"], profile="ci-health", baseline="last-week.json"))

Many targets, each report as it completes, in this process or on a Dask cluster (pip install 'mailprobe[cluster]'):
async for position, report in mailprobe.audit_many(targets, cfg, client=distributed.Client("tcp://HOST:8786")): ...
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailprobe.config import Config
from mailprobe.errors import UsageError
from mailprobe.model import DomainDns, HandshakeResult, Report, Target

if TYPE_CHECKING:
    from mailprobe.engine import Stages
    from mailprobe.profiles import Profile


async def audit(
    targets: Sequence[str],
    cfg: Config | None = None,
    *,
    profile: str | Profile | None = None,
    baseline: Report | str | Path | None = None,
) -> Report:
    """Resolve, reach, handshake and judge each target; one report. `profile` (a shipped name, a file or a
    loaded Profile) chooses the stages and services and adds its expectations; `baseline` (an earlier report
    or its JSON file) turns every change into a finding. Neither is needed when `cfg` already carries them."""
    from mailprobe.engine import Stages
    from mailprobe.engine import audit as run

    cfg = cfg or Config()
    stages = Stages()
    if profile is not None:
        from mailprobe.profiles import load_profile

        chosen = load_profile(profile) if isinstance(profile, str) else profile
        cfg, stages = chosen.configure(cfg), Stages.named(chosen.stages)
    if baseline is not None:
        cfg = replace(cfg, baseline=baseline if isinstance(baseline, Report) else read_report(Path(baseline)))
    return await run(targets, cfg, stages)


def read_report(path: Path) -> Report:
    """A report from its JSON file (`--format json`); a UsageError naming the file when it is not one."""
    from mailprobe.report.serialize import report_from_jsonable

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON ({exc})") from None
    try:
        return report_from_jsonable(data)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


async def audit_many(
    targets: Iterable[str] | AsyncIterable[str],
    cfg: Config | None = None,
    *,
    client: Any = None,
    stages: Stages | None = None,
    per_destination: int | None = None,
    rate: float = 0.0,
    chunk: int = 0,
) -> AsyncIterator[tuple[int, Report]]:
    """(position in `targets`, Report) for each target as it completes, each position once.

    `targets` is read lazily. With `client` (a distributed.Client, asynchronous or not) the targets run on its
    workers in chunks of `chunk` (0: chosen), at most `per_destination` connections to one address at once
    across the cluster (default 16; 0: each worker's own caps only) and, when `rate` is set, that many
    connection attempts per second; a report run again after its worker died lists its target in `retried`.
    Without a client, in this process.
    """
    from mailprobe.engine import Stages, indexed_stream

    chosen = stages or Stages()
    if client is None:
        async for item in indexed_stream(targets, cfg or Config(), chosen):
            yield item
        return
    from mailprobe.cluster.options import DEFAULT_PER_DESTINATION, ClusterOptions
    from mailprobe.cluster.run import stream_on

    cap = DEFAULT_PER_DESTINATION if per_destination is None else per_destination
    options = ClusterOptions(per_destination=cap, rate=rate, chunk=chunk)
    async for item in stream_on(client, targets, cfg or Config(), chosen, options):
        yield item


async def resolve(domain: str, cfg: Config | None = None) -> DomainDns:
    """The DNS picture of a mail domain (MX, addresses, PTR, SRV, policy records)."""
    from mailprobe.dns import resolve_domain

    return await resolve_domain(domain, cfg or Config())


async def ports(targets: Sequence[str], cfg: Config | None = None) -> Report:
    """Port states of every address of every target."""
    from mailprobe.engine import Stages
    from mailprobe.engine import audit as run

    return await run(targets, cfg or Config(), Stages(dns=False, ports=True, handshake=False), command="ports")


async def handshake(target: Target, cfg: Config | None = None) -> HandshakeResult:
    """One protocol handshake (SMTP, POP3 or IMAP by the target's service)."""
    from mailprobe.probes.registry import handshake as run

    return await run(target, cfg or Config())
