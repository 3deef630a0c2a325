"""Gather what the egress verdict needs: port 25 and control ports on several destinations, the port-25
greetings, the same addresses' 587/465 greetings, and the destinations' reverse DNS. The verdict itself is
the pure check mailprobe.checks.egress.judge_egress.

A destination that does not resolve is evidence for the verdict (a note) and also a RunError of the run
(`no-address` when DNS says the name has none, `dns` when the lookup failed): what could not be probed is
counted by every format (`egress_run`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import dns.reversename

from mailprobe.checks.egress import SUBMISSION_PORTS, judge_egress
from mailprobe.config import Config
from mailprobe.dns.client import DnsClient, Outcome
from mailprobe.dns.names import is_address, normal_name
from mailprobe.model import (
    ConnectTime,
    DnsOutcome,
    EgressResult,
    EgressVerdict,
    ErrorKind,
    HandshakeResult,
    PortResult,
    PortState,
    RunError,
    Service,
    Target,
)
from mailprobe.net.connect import probe_port
from mailprobe.net.raw import raw_unavailable_reason
from mailprobe.scheduler import Scheduler, scan_order

SMTP_PORT = 25
CONNECT_SAMPLES = 3  # connect mode: port 25 and one control port, alternately, the fastest of each kept


async def resolve_target(name: str, cfg: Config, client: DnsClient | None = None) -> tuple[list[str], str]:
    """Addresses of a target (an address stands for itself); an error text instead when there are none."""
    addresses, error = await _resolve(name, cfg, client)
    return addresses, str(error) if error is not None else ""


_NO_ADDRESS = (DnsOutcome.OK, DnsOutcome.NXDOMAIN, DnsOutcome.NODATA)  # DNS answered: the name has no address


async def _resolve(name: str, cfg: Config, client: DnsClient | None = None) -> tuple[list[str], RunError | None]:
    """Addresses of a target, or the RunError saying why there are none (its text names the target)."""
    if is_address(name):
        return [name], None
    client = client or DnsClient.from_config(cfg)
    kinds = [k for k, wanted in (("A", cfg.ipv4), ("AAAA", cfg.ipv6)) if wanted]
    answers = await asyncio.gather(*(client.query(name, kind) for kind in kinds))
    addresses = [rdata.to_text() for answer in answers for rdata in answer.records]
    if addresses:
        return addresses, None
    reasons = "; ".join(f"{a.rdtype} {a.outcome.value}{f': {a.reason}' if a.reason else ''}" for a in answers)
    kind = ErrorKind.NO_ADDRESS if all(a.outcome in _NO_ADDRESS for a in answers) else ErrorKind.DNS
    return [], RunError(name, kind, f"does not resolve ({reasons})")


async def _reverse(client: DnsClient | None, addresses: Sequence[str]) -> list[tuple[str, str]]:
    """PTR names of the destinations (who they belong to, for telling a shared provider from a middlebox)."""
    if client is None:
        return []
    answers = await asyncio.gather(*(client.query(dns.reversename.from_address(a).to_text(), "PTR") for a in addresses))
    out = []
    for address, answer in zip(addresses, answers, strict=True):
        if answer.outcome is Outcome.OK and answer.records:
            out.append((address, normal_name(answer.records[0].target.to_text())))  # type: ignore[attr-defined]
    return out


async def egress_run(
    cfg: Config,
    targets: Sequence[str],
    control_ports: Sequence[int],
    raw: bool,
    *,
    smtp_port: int = SMTP_PORT,
    starttls_known: Sequence[str] = (),
) -> tuple[EgressResult, tuple[RunError, ...]]:
    """Probe port 25 and the control ports on every target, greet where they open, and judge; with the run's
    errors: each destination that could not be resolved (also in the verdict's evidence)."""
    needs_dns = any(not is_address(name) for name in targets)
    client = DnsClient.from_config(cfg) if needs_dns or cfg.resolver is not None else None
    notes: list[str] = []
    errors: list[RunError] = []
    resolved = await asyncio.gather(*(_resolve(name, cfg, client) for name in targets))
    pairs: list[tuple[str, str]] = []
    for name, (addresses, error) in zip(targets, resolved, strict=True):
        if error is not None:
            notes.append(str(error))
            errors.append(error)
        pairs.extend((name, address) for address in addresses)
    if not pairs:
        explanation = "Cannot tell: no target could be resolved to an address."
        return EgressResult(EgressVerdict.INCONCLUSIVE, explanation, tuple(notes)), tuple(errors)
    all_ports = [smtp_port, *(p for p in control_ports if p != smtp_port)]
    if raw:
        why_not = raw_unavailable_reason()
        if why_not is not None:
            notes.append(f"raw mode unavailable ({why_not}); connect mode used")
            raw = False
    run_cfg = replace(cfg, raw=raw)
    async with Scheduler(run_cfg) as scheduler:  # the run's limits, guard and learnt round trips, as any command
        found, reverse = await asyncio.gather(
            _scan(scheduler, pairs, all_ports), _reverse(client, list(dict.fromkeys(a for _, a in pairs)))
        )
        ports = _in_order(found, pairs, all_ports)
        opened = [r for r in ports if r.state is PortState.OPEN]
        port25, controls, times = await asyncio.gather(
            _greet(scheduler, [r for r in opened if r.port == smtp_port], Service.SMTP),
            _greet(scheduler, [r for r in opened if r.port in SUBMISSION_PORTS], None),
            _connect_times(ports, smtp_port, cfg) if not raw else _no_times(),
        )
    verdict = judge_egress(
        ports,
        port25,
        control_handshakes=controls,
        reverse=reverse,
        starttls_known=starttls_known,
        raw=raw,
        smtp_port=smtp_port,
        connect_times=times,
    )
    return (replace(verdict, evidence=(*notes, *verdict.evidence)) if notes else verdict), tuple(errors)


async def _connect_times(ports: Sequence[PortResult], smtp_port: int, cfg: Config) -> list[ConnectTime]:
    """Port 25 and one open control port of each address where both are open, connected to again a few times,
    alternately: one connect time is at the mercy of this machine's scheduling, the fastest of several is not
    (the nearer-answer evidence compares them)."""
    open_ports = [r for r in ports if r.state is PortState.OPEN]
    pairs = []
    for r in open_ports:
        if r.port != smtp_port:
            continue
        control = next((c for c in open_ports if c.address == r.address and c.port != smtp_port), None)
        if control is not None:
            pairs.append((r.address, (smtp_port, control.port)))
    found = await asyncio.gather(*(_sample(address, wanted, cfg) for address, wanted in pairs))
    return [t for times in found for t in times]


async def _sample(address: str, wanted: tuple[int, int], cfg: Config) -> list[ConnectTime]:
    best: dict[int, float] = {}
    for _ in range(CONNECT_SAMPLES):
        for port in wanted:
            result = await probe_port(address, port, min(cfg.limits.connect_timeout, 2.0))
            if result.state is PortState.OPEN and result.attempts == 1:
                best[port] = min(best.get(port, result.elapsed_ms), result.elapsed_ms)
    return [ConnectTime(address, port, ms, CONNECT_SAMPLES) for port, ms in best.items()]


async def _no_times() -> list[ConnectTime]:
    return []


async def _scan(scheduler: Scheduler, pairs: Sequence[tuple[str, str]], ports: Sequence[int]) -> list[PortResult]:
    return [result async for result in scheduler.scan(pairs, ports)]


def _in_order(found: Sequence[PortResult], pairs: Sequence[tuple[str, str]], ports: Sequence[int]) -> list[PortResult]:
    """Results by target then port as given (the evidence lines read in that order)."""
    rank = {(host, address, port): i for i, (host, address, port) in enumerate(scan_order(pairs, ports))}
    return sorted(found, key=lambda r: rank.get((r.host, r.address, r.port), len(rank)))


async def _greet(scheduler: Scheduler, opened: Sequence[PortResult], service: Service | None) -> list[HandshakeResult]:
    """SMTP greeting (and STARTTLS or implicit TLS) on every port given, under the run's session limits."""
    wanted = [
        Target(r.host, r.address, r.port, service or Service.for_port(r.port) or Service.SMTP, "user") for r in opened
    ]
    return list(await asyncio.gather(*(scheduler.handshake(t, seen_open=True) for t in wanted)))
