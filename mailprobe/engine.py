"""The engine: schedules resolve → reach → handshake → judge for each target, with bounded concurrency.

The stages overlap where the data allow: the port scan starts once the MX addresses are known, while reverse
DNS, TLSA, blocklists and the MTA-STS fetch finish; services announced by SRV are handshaken beside the MX's.

This is the only place with a broad `except`: anything a stage did not expect becomes a result with status
`error` (or a per-target error line in the report), so one bad target never stops a run or loses output.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mailprobe import __version__
from mailprobe.checks.framework import group_findings
from mailprobe.config import Config
from mailprobe.errors import UnsafeTargetError, UsageError
from mailprobe.model import (
    DomainDns,
    ErrorKind,
    HandshakeResult,
    MxHost,
    MxStatus,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
    RunContext,
    RunError,
    Service,
    Target,
)
from mailprobe.targets import Spec, parse_target


@dataclass(frozen=True, slots=True)
class Stages:
    dns: bool = True
    ports: bool = True
    handshake: bool = True


_COLLECT_EVERY = 32  # targets between forced garbage collections in a batch


class Limiter:
    """A global cap (below the file-descriptor budget) and a per-address cap on concurrent sessions."""

    def __init__(self, cfg: Config) -> None:
        from mailprobe.net.limits import HostLimiter, current_fd_budget

        # Each session may hold up to three sockets at once (main, and two legacy-TLS probes).
        budget = max(1, current_fd_budget() // 3)
        self._global = asyncio.Semaphore(max(1, min(cfg.limits.global_concurrency, budget)))
        self.host = HostLimiter(cfg.limits.per_host)

    async def run_handshake(self, target: Target, cfg: Config) -> HandshakeResult:
        from mailprobe.probes.registry import handshake

        async with self._global, self.host(target.address):
            try:
                return await handshake(target, cfg)
            except Exception as exc:  # the engine boundary: a bug in a probe is a result, not a crash
                return HandshakeResult(target, ProbeStatus.ERROR, f"internal error: {exc!r}", 0.0)


@dataclass
class _Hosts:
    """(host, address, origin) triples to probe, the per-target errors found on the way, and the rest of a
    domain's DNS picture, still arriving while the hosts are probed."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    picture: asyncio.Task[DomainDns] | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def services_for(cfg: Config, spec: Spec) -> list[tuple[Service, int]]:
    """The services to try: one when the user named a port, else every configured service."""
    if spec.port is not None:
        service = cfg.service_for_port(spec.port)
        if service is None:
            raise UsageError(
                f"{spec.text}: port {spec.port} is not a mail port; name its service with --port SERVICE={spec.port}"
            )
        return [(service, spec.port)]
    return [(service, cfg.port_for(service)) for service in cfg.services]


async def _hosts_for(spec: Spec, cfg: Config, stages: Stages) -> _Hosts:
    from mailprobe import dns

    hosts = _Hosts()
    if spec.is_address:
        hosts.entries.append((spec.host, spec.host, "user"))
        return hosts
    if stages.dns and spec.port is None:
        hosts.picture, status, mx = await _start_picture(spec.host, cfg)
        origin = "implicit-mx" if status is MxStatus.IMPLICIT else "mx"
        for host in mx:
            # Non-public addresses from DNS are not probed by default (the DNS checks report them).
            hosts.entries.extend((host.name, address, origin) for address in dns.probe_addresses(host, cfg))
        return hosts
    addresses = await dns.resolve_host(spec.host, cfg)
    if not addresses:
        hosts.errors.append(RunError(spec.text, ErrorKind.NO_ADDRESS, "the name has no address (no A/AAAA)"))
    hosts.entries.extend((spec.host, address, "user") for address in addresses)
    return hosts


async def _start_picture(name: str, cfg: Config) -> tuple[asyncio.Task[DomainDns], MxStatus, tuple[MxHost, ...]]:
    """Start resolving a domain; return once its MX hosts' addresses are known, with the picture running on
    (reverse DNS, TLSA, blocklists, the MTA-STS fetch): probing need not wait for them."""
    from mailprobe import dns

    known: asyncio.Future[tuple[MxStatus, tuple[MxHost, ...]]] = asyncio.get_running_loop().create_future()

    def addresses_known(status: MxStatus, mx: tuple[MxHost, ...]) -> None:
        if not known.done():
            known.set_result((status, mx))

    picture = asyncio.ensure_future(dns.resolve_domain(name, cfg, on_addresses=addresses_known))
    try:
        first: set[asyncio.Future[Any]] = {picture, known}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not known.done() and not picture.done():  # we were cancelled
            picture.cancel()
    if known.done():
        status, mx = known.result()
        return picture, status, mx
    domain = picture.result()  # no addresses to probe (no MX, null MX, a failure); raises for a bad domain
    return picture, domain.status, domain.mx


async def audit_target(text: str, cfg: Config, stages: Stages, limiter: Limiter | None = None) -> Report:
    """Everything mailprobe learns about one target, as a Report of its own."""
    started, started_at = time.monotonic(), _now()
    limiter = limiter or Limiter(cfg)
    dns_results: list[DomainDns] = []
    ports: list[PortResult] = []
    handshakes: list[HandshakeResult] = []
    errors: list[RunError] = []
    running: list[asyncio.Future[Any]] = []  # cancelled if the target ends early
    try:
        spec = parse_target(text)
        services = services_for(cfg, spec)
        hosts = await _hosts_for(spec, cfg, stages)
        if hosts.picture is not None:
            running.append(hosts.picture)
        errors.extend(hosts.errors)
        entries = [
            (host, address, origin)
            for host, address, origin in hosts.entries
            if (cfg.ipv6 or ":" not in address) and (cfg.ipv4 or ":" in address)
        ]
        targets = [
            Target(host, address, port, service, origin)
            for host, address, origin in entries
            for service, port in services
        ]
        if stages.ports and entries:
            scan_ports = list(cfg.scan_ports) or list(dict.fromkeys(port for _, port in services))
            ports = await _reach(entries, scan_ports, cfg)
            open_ports = {(p.address, p.port) for p in ports if p.state is PortState.OPEN}
            targets = [t for t in targets if (t.address, t.port) in open_ports]
        sessions = [_sessions(targets, cfg, limiter)] if stages.handshake and targets else []
        running.extend(sessions)
        if hosts.picture is not None:
            domain = await hosts.picture
            dns_results.append(domain)
            if stages.handshake:
                extra = await _srv_targets(domain, cfg, {(t.address, t.port) for t in targets})
                sessions.append(_sessions(extra, cfg, limiter))
                running.append(sessions[-1])
        for batch in sessions:
            handshakes.extend(await batch)
    except UnsafeTargetError as exc:
        errors.append(RunError(text, ErrorKind.REFUSED, str(exc)))
    except UsageError as exc:
        errors.append(RunError(text, ErrorKind.BAD_TARGET, str(exc)))
    except Exception as exc:  # the engine boundary: keep going, say what happened
        errors.append(RunError(text, ErrorKind.INTERNAL, f"internal error: {exc!r}"))
    finally:
        for task in running:
            task.cancel()  # a no-op for the finished ones
        await asyncio.gather(*running, return_exceptions=True)
    report = Report(
        command="audit",
        targets=(text,),
        started_at=started_at,
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        dns=tuple(dns_results),
        ports=tuple(ports),
        handshakes=tuple(handshakes),
        errors=tuple(errors),
        context=context_of(cfg),
        tool_version=__version__,
    )
    return judged(report)


def context_of(cfg: Config) -> RunContext:
    return RunContext(allow_nonpublic=cfg.allow_nonpublic, servername=cfg.servername, expect=cfg.expect)


def judged(report: Report) -> Report:
    """The report with its findings and the record of every check; a broken check never loses the results."""
    try:
        from mailprobe.checks.run import judge

        verdicts = judge(report)
    except Exception as exc:  # the engine boundary
        failure = RunError(report.targets[0] if report.targets else "", ErrorKind.CHECK, f"checks failed: {exc!r}")
        return replace(report, errors=(*report.errors, failure))
    return replace(
        report, findings=verdicts.findings, checks=verdicts.checks, errors=(*report.errors, *verdicts.errors)
    )


def _sessions(targets: Sequence[Target], cfg: Config, limiter: Limiter) -> asyncio.Future[list[HandshakeResult]]:
    """Handshakes with every target, started now, results in target order."""
    return asyncio.gather(*(limiter.run_handshake(t, cfg) for t in targets))


async def _srv_targets(domain: DomainDns, cfg: Config, known: set[tuple[str, int]]) -> list[Target]:
    """Services the domain announces with SRV records (RFC 6186/8314) that the MX probing did not cover."""
    from mailprobe import dns

    announced = []
    for srv in dns.srv_targets(domain):
        if srv.service in cfg.services:
            announced.append((srv.target, srv.port, srv.service))
    names = list(dict.fromkeys(host for host, _, _ in announced))
    resolved = dict(zip(names, await asyncio.gather(*(dns.resolve_host(n, cfg) for n in names)), strict=True))
    found: list[Target] = []
    for host, port, service in announced:
        for address in dns.probe_addresses(MxHost(0, host, resolved[host]), cfg):
            if (address, port) not in known:
                known.add((address, port))
                found.append(Target(host, address, port, service, "srv"))
    return found


async def _reach(entries: Sequence[tuple[str, str, str]], ports: Sequence[int], cfg: Config) -> list[PortResult]:
    from mailprobe.probes.ports import scan

    pairs = list(dict.fromkeys((host, address) for host, address, _ in entries))
    return [result async for result in scan(pairs, ports, cfg)]


async def audit_stream(texts: Iterable[str], cfg: Config, stages: Stages) -> AsyncIterator[Report]:
    """Reports one target at a time, as they finish, with at most `targets_in_flight` targets at once.

    Reading the input lazily keeps memory flat however long the target list is; sessions are further
    bounded by the global and per-host limits.
    """
    concurrency = max(1, cfg.limits.targets_in_flight)
    finished = 0
    limiter = Limiter(cfg)
    pending: set[asyncio.Task[Report]] = set()
    source = iter(texts)
    exhausted = False
    while True:
        while not exhausted and len(pending) < concurrency:
            text = next(source, None)
            if text is None:
                exhausted = True
                break
            pending.add(asyncio.ensure_future(audit_target(text, cfg, stages, limiter)))
        if not pending:
            return
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            finished += 1
            if finished % _COLLECT_EVERY == 0:
                # asyncio's SSL protocol objects of failed handshakes sit in reference cycles holding
                # 256 KiB buffers each (CPython gh-109534); the legacy-TLS probes make many. Collecting
                # now and then keeps memory flat instead of waiting for the allocation-count trigger.
                gc.collect()
            yield task.result()


def merge(reports: Sequence[Report], command: str, profile: str | None = None) -> Report:
    """One report from many (targets in input order); findings are kept, not recomputed."""
    if not reports:
        return Report(command=command, targets=(), started_at=_now(), elapsed_ms=0.0, tool_version=__version__)
    return Report(
        command=command,
        targets=tuple(t for r in reports for t in r.targets),
        started_at=min(r.started_at for r in reports),
        elapsed_ms=max(r.elapsed_ms for r in reports),
        dns=tuple(d for r in reports for d in r.dns),
        ports=tuple(p for r in reports for p in r.ports),
        handshakes=tuple(h for r in reports for h in r.handshakes),
        # One problem, one finding across targets too (the same certificate on several named targets).
        findings=tuple(group_findings(f for r in reports for f in r.findings)),
        egress=next((r.egress for r in reports if r.egress is not None), None),
        errors=tuple(e for r in reports for e in r.errors),
        checks=tuple(c for r in reports for c in r.checks),
        context=reports[0].context,
        interrupted=any(r.interrupted for r in reports),
        unfinished=tuple(u for r in reports for u in r.unfinished),
        profile=profile,
        tool_version=__version__,
    )


async def audit(texts: Sequence[str], cfg: Config, stages: Stages | None = None, command: str = "audit") -> Report:
    """The whole pipeline over several targets, as one report."""
    stages = stages or Stages()
    started = time.monotonic()
    order = {text: index for index, text in enumerate(texts)}
    reports = [r async for r in audit_stream(texts, cfg, stages)]
    reports.sort(key=lambda r: order.get(r.targets[0], 0))
    merged = merge(reports, command)
    return replace(merged, elapsed_ms=round((time.monotonic() - started) * 1000, 1))
