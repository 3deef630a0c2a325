"""The engine: every target of a run through one Scheduler; each target's report as soon as it is complete.

API (the CLI, the library in api.py and a cluster front end use these):

    indexed_stream(texts, cfg, stages, *, destinations=None) -> AsyncIterator[tuple[int, Report]]
        `texts`: an iterable or async iterable of single targets (a domain, a host, an address, each with an
        optional :PORT), read lazily; `mailprobe.targets.expand_blocks` turns CIDR blocks and ranges into
        addresses first. At most `admission_window` targets are read and not yet emitted (256 for port
        scans, two rounds of sessions' worth when handshakes follow), so memory stays flat however many there
        are. Yields (position in `texts`, Report) in completion order.
    audit_stream(texts, cfg, stages, *, destinations=None) -> AsyncIterator[Report]
        the same without the positions.
    audit(texts, cfg, stages=None, command="audit") -> Report      every target, merged in input order
    Config carries a profile's settings (profiles.Profile.configure: services, expectations, its name) and
    a baseline (Config.baseline): each target's report is judged against both before it is emitted.
    audit_target(text, cfg, stages, scheduler=None) -> Report      one target (on its own scheduler if none)
    `destinations`: a scheduler.DestinationLimits (per-address caps as async context managers), e.g. one
        shared by a whole cluster; by default each process counts its own.
    `progress`: a mailprobe.progress.Progress to record what is in flight (each target's stage, each
        session's wait), for a status line; None records nothing.

How a target goes: its DNS starts when it is admitted (ahead of the probes of earlier targets); its port
probes enter the run's Scheduler, which interleaves them with every other target's under the global,
per-address and descriptor limits; a handshake starts the moment its port is seen open, and SRV-announced
services once the DNS picture has them (a port with no registered service is first asked which it offers:
probing.py, probes/identify.py); reverse DNS, TLSA, blocklists and the MTA-STS fetch finish beside the
probes. When the last of these ends the report is judged (`judged`, then a baseline's drift: `with_drift`)
and emitted. Addresses and localhost are never looked up in DNS.

This and the scheduler are the only places with a broad `except`: anything a stage did not expect becomes a
result with status `error` (or a per-target error line), so one bad target never stops a run or loses output.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import importlib
import sys
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mailprobe import __version__
from mailprobe.checks.framework import group_findings
from mailprobe.config import Config
from mailprobe.errors import UnsafeTargetError, UsageError
from mailprobe.model import (
    DomainDns,
    ErrorKind,
    MxHost,
    MxStatus,
    PortResult,
    Report,
    RunContext,
    RunError,
    Service,
    Target,
)
from mailprobe.probing import Probing, SessionTarget, Unidentified
from mailprobe.progress import Progress
from mailprobe.scheduler import DestinationLimits, Scheduler
from mailprobe.targets import Spec, loopback, parse_target

Texts = Iterable[str] | AsyncIterable[str]


@dataclass(frozen=True, slots=True)
class Stages:
    dns: bool = True
    ports: bool = True
    handshake: bool = True

    @classmethod
    def named(cls, names: Iterable[str]) -> Stages:
        """From stage names ("dns", "ports", "handshake"), as profiles list them."""
        chosen = set(names)
        return cls(dns="dns" in chosen, ports="ports" in chosen, handshake="handshake" in chosen)


_COLLECT_EVERY = 32  # targets with sessions between forced garbage collections in a batch


@dataclass
class _Hosts:
    """(host, address, origin) triples to probe, the per-target errors found on the way, and the rest of a
    domain's DNS picture, still arriving while the hosts are probed."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[RunError] = field(default_factory=list)
    picture: asyncio.Future[DomainDns] | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def services_for(cfg: Config, spec: Spec) -> list[tuple[Service | None, int]]:
    """The services to try: the one `/SERVICE` names; the one a given port is registered for (or --port
    SERVICE=PORT names), None when it has none (its greeting will tell: probes/identify.py); else every
    configured service."""
    if spec.service is not None:
        return [(spec.service, spec.port if spec.port is not None else cfg.port_for(spec.service))]
    if spec.port is not None:
        return [(cfg.service_for_port(spec.port), spec.port)]
    return [(service, cfg.port_for(service)) for service in cfg.services]


async def _hosts_for(spec: Spec, cfg: Config, stages: Stages, scheduler: Scheduler) -> _Hosts:
    hosts = _Hosts()
    if spec.addresses:  # an address literal, or localhost: never asked of DNS
        if stages.dns and not stages.ports and not stages.handshake:
            what = "localhost is this machine" if spec.local else f"{spec.host} is an address"
            hosts.errors.append(RunError(spec.text, ErrorKind.BAD_TARGET, f"{what}: it has no MX; give a mail domain"))
        hosts.entries.extend((spec.host, address, "user") for address in loopback(spec.addresses))
        return hosts
    from mailprobe import dns  # not before: an address needs no DNS, and importing it costs 0.1 s

    if stages.dns and spec.port is None and spec.service is None:
        hosts.picture, status, mx = await _start_picture(spec.host, cfg, scheduler)
        origin = "implicit-mx" if status is MxStatus.IMPLICIT else "mx"
        for host in mx:
            # Non-public addresses from DNS are not probed by default (the DNS checks report them).
            hosts.entries.extend((host.name, address, origin) for address in dns.probe_addresses(host, cfg))
        return hosts
    addresses = await scheduler.with_dns(dns.resolve_host(spec.host, cfg))
    if not addresses:
        hosts.errors.append(RunError(spec.text, ErrorKind.NO_ADDRESS, "the name has no address (no A/AAAA)"))
    hosts.entries.extend((spec.host, address, "user") for address in addresses)
    return hosts


async def _start_picture(
    name: str, cfg: Config, scheduler: Scheduler
) -> tuple[asyncio.Future[DomainDns], MxStatus, tuple[MxHost, ...]]:
    """Start resolving a domain; return once its MX hosts' addresses are known, with the picture running on
    (reverse DNS, TLSA, blocklists, the MTA-STS fetch): probing need not wait for them."""
    from mailprobe import dns

    known: asyncio.Future[tuple[MxStatus, tuple[MxHost, ...]]] = asyncio.get_running_loop().create_future()

    def addresses_known(status: MxStatus, mx: tuple[MxHost, ...]) -> None:
        if not known.done():
            known.set_result((status, mx))

    picture = asyncio.ensure_future(scheduler.with_dns(dns.resolve_domain(name, cfg, on_addresses=addresses_known)))
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


async def audit_target(text: str, cfg: Config, stages: Stages, scheduler: Scheduler | None = None) -> Report:
    """Everything mailprobe learns about one target, as a Report of its own."""
    if scheduler is None:
        async with Scheduler(cfg) as own:
            return await audit_target(text, cfg, stages, own)
    started, started_at = time.monotonic(), _now()
    dns_results: list[DomainDns] = []
    errors: list[RunError] = []
    probing = Probing(scheduler, cfg)
    picture: asyncio.Future[DomainDns] | None = None
    pairs: list[tuple[str, str]] = []
    scan_ports: list[int] = []
    progress = scheduler.progress
    step = progress.begin(text, text, "starting") if progress is not None else None
    try:
        spec = parse_target(text)
        services = services_for(cfg, spec)
        if step is not None and not spec.addresses:
            step.now("resolving")
        hosts = await _hosts_for(spec, cfg, stages, scheduler)
        picture = hosts.picture
        errors.extend(hosts.errors)
        entries = [
            (host, address, origin)
            for host, address, origin in hosts.entries
            if (cfg.ipv6 or ":" not in address) and (cfg.ipv4 or ":" in address)
        ]
        targets: list[SessionTarget] = [
            Target(host, address, port, service, origin)
            if service is not None
            else Unidentified(host, address, port, origin)
            for host, address, origin in entries
            for service, port in services
            if stages.handshake
        ]
        if stages.ports and entries:
            if step is not None:
                step.now("probing ports")
            waiting: dict[tuple[str, int], list[SessionTarget]] = {}
            for target in targets:
                waiting.setdefault((target.address, target.port), []).append(target)
            pairs = list(dict.fromkeys((host, address) for host, address, _ in entries))
            scan_ports = list(cfg.scan_ports) or list(dict.fromkeys(port for _, port in services))
            from_dns = all(origin != "user" for _, _, origin in entries)  # shared with other targets' MX hosts
            await probing.scan_then_start(pairs, scan_ports, waiting, shared=from_dns)
        elif stages.handshake:
            probing.start(targets)
        if picture is not None:
            if step is not None:
                step.now("resolving policy records")
            # The sessions already run: a DNS stage that fails now is the target's error, and they go on.
            try:
                domain = await picture
                dns_results.append(domain)
                if stages.handshake:
                    known = {(t.address, t.port) for t in targets}
                    probing.start(await scheduler.with_dns(_srv_targets(domain, cfg, known)))
            except Exception as exc:  # the engine boundary, for the DNS stage alone
                errors.append(_stage_error(text, exc, "the DNS stage"))
        if step is not None:
            step.now("waiting for its sessions")
        await asyncio.gather(*probing.sessions.values())
    except Exception as exc:  # the engine boundary: keep going, say what happened
        errors.append(_stage_error(text, exc))
    finally:
        if step is not None and progress is not None:
            progress.end(step)
        running: list[asyncio.Future[Any]] = probing.cancel() + ([picture] if picture is not None else [])
        for task in running:
            task.cancel()  # a no-op for the finished ones
        await asyncio.gather(*running, return_exceptions=True)
    handshakes, unidentified = probing.outcomes()
    report = Report(
        command="audit",
        targets=(text,),
        started_at=started_at,
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        dns=tuple(dns_results),
        ports=tuple(_in_scan_order(probing.ports, pairs, scan_ports)),
        handshakes=tuple(handshakes),
        errors=(*errors, *unidentified),
        context=context_of(cfg),
        profile=cfg.profile,
        tool_version=__version__,
    )
    return with_drift(judged(report), cfg.baseline)


def _stage_error(text: str, exc: Exception, stage: str = "") -> RunError:
    """What a failure that reached the engine boundary says about the target."""
    if isinstance(exc, UnsafeTargetError):
        return RunError(text, ErrorKind.REFUSED, str(exc))
    if isinstance(exc, UsageError):
        return RunError(text, ErrorKind.BAD_TARGET, str(exc))
    return RunError(text, ErrorKind.INTERNAL, f"internal error{f' in {stage}' if stage else ''}: {exc!r}")


def with_drift(report: Report, baseline: Report | None) -> Report:
    """With a baseline (Config.baseline): every change of this report's targets since then, as findings."""
    if baseline is None:
        return report
    try:
        from mailprobe.checks.baseline import compare

        drift = tuple(compare(baseline, report))
    except Exception as exc:  # the engine boundary
        failure = RunError(report.targets[0] if report.targets else "", ErrorKind.CHECK, f"baseline: {exc!r}")
        return replace(report, errors=(*report.errors, failure))
    return replace(report, findings=(*report.findings, *drift))


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


def _in_scan_order(found: list[PortResult], pairs: Sequence[tuple[str, str]], ports: Sequence[int]) -> list[PortResult]:
    """Port results in a stable order (target, then port, as asked), whatever order they arrived in."""
    pair_rank = {pair: index for index, pair in enumerate(pairs)}
    port_rank = {port: index for index, port in enumerate(ports)}
    return sorted(found, key=lambda r: (pair_rank.get((r.host, r.address), 0), port_rank.get(r.port, 0)))


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


async def _lazily(texts: Texts) -> AsyncIterator[str]:
    if isinstance(texts, AsyncIterable):
        async for text in texts:
            yield text
    else:
        for text in texts:
            yield text


async def numbered(texts: Texts) -> AsyncIterator[tuple[int, str]]:
    """(position, target) for each target as read, from a list or a stream."""
    position = 0
    async for text in _lazily(texts):
        yield position, text
        position += 1


def failed_report(text: str, cfg: Config, kind: ErrorKind, message: str) -> Report:
    """A target that could not be run (its process or worker died), as its own report: typed, counted, never
    silent."""
    error = RunError(text, kind, message)
    return Report("audit", (text,), _now(), 0.0, errors=(error,), context=context_of(cfg), tool_version=__version__)


def import_meanwhile(*modules: str) -> None:
    """Import modules in a thread while the first probes are on the wire.

    The checks (and the DNS code they import) take a quarter of a second to import; the first finished target
    needs them, and until then the process mostly waits for answers. Not a daemon thread: exiting waits for
    an import to finish rather than tearing down an interpreter in the middle of one.
    """
    missing = [name for name in modules if name not in sys.modules]
    if not missing:
        return

    def run() -> None:
        for name in missing:
            try:
                importlib.import_module(name)
            except ImportError:
                return  # the main thread's own import will raise it where it can be reported

    # No thread to be had (a pids limit): each module is imported where it is first used instead.
    with contextlib.suppress(RuntimeError):
        threading.Thread(target=run, name="mailprobe-import", daemon=False).start()


def admission_window(cfg: Config, stages: Stages) -> int:
    """Targets read but not yet emitted, at most: Limits.targets_in_flight, and when handshakes follow, about
    two rounds of sessions' worth (each target brings one per service). Admitting more would only run their
    scans and DNS early, flood the servers with connections whose sessions cannot start yet, and hold memory.
    """
    window = cfg.limits.targets_in_flight
    if stages.handshake:
        window = min(window, max(8, 2 * cfg.limits.global_concurrency // max(1, len(cfg.services))))
    return max(1, window)


async def indexed_stream(
    texts: Texts,
    cfg: Config,
    stages: Stages,
    *,
    destinations: DestinationLimits | None = None,
    progress: Progress | None = None,
) -> AsyncIterator[tuple[int, Report]]:
    """(position, report) for every target as it completes; see the module docstring."""
    import_meanwhile("mailprobe.checks.run", *(["mailprobe.protocols.tls"] if stages.handshake else []))
    window = admission_window(cfg, stages)
    finished: asyncio.Queue[tuple[int, Report]] = asyncio.Queue()
    running: set[asyncio.Future[None]] = set()
    async with Scheduler(cfg, destinations, progress) as scheduler:

        async def one(index: int, text: str) -> None:
            try:
                report = await audit_target(text, cfg, stages, scheduler)
            except Exception as exc:  # the engine boundary: a target is never lost
                failure = RunError(text, ErrorKind.INTERNAL, f"internal error: {exc!r}")
                report = Report("audit", (text,), _now(), 0.0, errors=(failure,))
            finished.put_nowait((index, report))

        source = _lazily(texts).__aiter__()
        admitted = emitted = with_sessions = 0
        exhausted = False
        try:
            while True:
                # Read but not yet emitted: counted by results, not by finished tasks (a done-callback runs a
                # turn after its result is queued; a window counted by those stalls for the slowest target).
                while not exhausted and admitted - emitted < window:
                    try:
                        text = await source.__anext__()
                    except StopAsyncIteration:
                        exhausted = True
                        break
                    task: asyncio.Future[None] = asyncio.ensure_future(one(admitted, text))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    admitted += 1
                if emitted == admitted and exhausted:
                    return
                item = await finished.get()
                emitted += 1
                with_sessions += bool(item[1].handshakes)
                if with_sessions >= _COLLECT_EVERY:
                    # asyncio's SSL protocol objects of failed handshakes sit in reference cycles holding
                    # 256 KiB buffers each (CPython gh-109534); the legacy-TLS probes make many. Collecting
                    # now and then keeps memory flat instead of waiting for the allocation-count trigger.
                    with_sessions = 0
                    gc.collect()
                yield item
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)


async def audit_stream(
    texts: Texts,
    cfg: Config,
    stages: Stages,
    *,
    destinations: DestinationLimits | None = None,
    progress: Progress | None = None,
) -> AsyncIterator[Report]:
    """Each target's report as it completes (completion order); see the module docstring."""
    async for _index, report in indexed_stream(texts, cfg, stages, destinations=destinations, progress=progress):
        yield report


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
        retried=tuple(t for r in reports for t in r.retried),
        tool_version=__version__,
    )


async def audit(texts: Sequence[str], cfg: Config, stages: Stages | None = None, command: str = "audit") -> Report:
    """The whole pipeline over several targets, as one report (targets in input order)."""
    stages = stages or Stages()
    started = time.monotonic()
    done = sorted([item async for item in indexed_stream(texts, cfg, stages)], key=lambda item: item[0])
    merged = merge([report for _, report in done], command, cfg.profile)
    return replace(merged, elapsed_ms=round((time.monotonic() - started) * 1000, 1))
