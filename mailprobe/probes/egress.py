"""Gather what the egress verdict needs: port 25 and control ports on several destinations, the port-25
greetings, the same addresses' 587/465 greetings, and the destinations' reverse DNS. The verdict itself is
the pure check mailprobe.checks.egress.judge_egress.
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
from mailprobe.model import EgressResult, EgressVerdict, HandshakeResult, PortResult, PortState, Service, Target
from mailprobe.net.raw import raw_unavailable_reason, syn_scan
from mailprobe.probes.registry import handshake

SMTP_PORT = 25
HANDSHAKE_CONCURRENCY = 8


async def resolve_target(name: str, cfg: Config, client: DnsClient | None = None) -> tuple[list[str], str]:
    """Addresses of a target (an address stands for itself); an error text instead when there are none."""
    if is_address(name):
        return [name], ""
    client = client or DnsClient.from_config(cfg)
    kinds = [k for k, wanted in (("A", cfg.ipv4), ("AAAA", cfg.ipv6)) if wanted]
    answers = await asyncio.gather(*(client.query(name, kind) for kind in kinds))
    addresses = [rdata.to_text() for answer in answers for rdata in answer.records]
    if addresses:
        return addresses, ""
    reasons = "; ".join(f"{a.rdtype} {a.outcome.value}{f': {a.reason}' if a.reason else ''}" for a in answers)
    return [], f"{name}: does not resolve ({reasons})"


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


async def egress(
    cfg: Config,
    targets: Sequence[str],
    control_ports: Sequence[int],
    raw: bool,
    *,
    smtp_port: int = SMTP_PORT,
    starttls_known: Sequence[str] = (),
) -> EgressResult:
    """Probe port 25 and the control ports on every target, greet where they open, and judge."""
    from mailprobe.probes.ports import scan_all

    needs_dns = any(not is_address(name) for name in targets)
    client = DnsClient.from_config(cfg) if needs_dns or cfg.resolver is not None else None
    notes: list[str] = []
    resolved = await asyncio.gather(*(resolve_target(name, cfg, client) for name in targets))
    pairs: list[tuple[str, str]] = []
    for name, (addresses, error) in zip(targets, resolved, strict=True):
        if error:
            notes.append(error)
        pairs.extend((name, address) for address in addresses)
    if not pairs:
        return EgressResult(
            EgressVerdict.INCONCLUSIVE, "Cannot tell: no target could be resolved to an address.", tuple(notes)
        )
    all_ports = [smtp_port, *(p for p in control_ports if p != smtp_port)]
    if raw:
        why_not = raw_unavailable_reason()
        if why_not is not None:
            notes.append(f"raw mode unavailable ({why_not}); connect mode used")
            raw = False
    scan = syn_scan(pairs, all_ports, cfg) if raw else scan_all(pairs, all_ports, cfg)
    ports, reverse = await asyncio.gather(scan, _reverse(client, list(dict.fromkeys(a for _, a in pairs))))
    limit = asyncio.Semaphore(HANDSHAKE_CONCURRENCY)
    port25, controls = await asyncio.gather(
        _greet([r for r in ports if r.port == smtp_port and r.state is PortState.OPEN], cfg, limit, Service.SMTP),
        _greet([r for r in ports if r.port in SUBMISSION_PORTS and r.state is PortState.OPEN], cfg, limit, None),
    )
    verdict = judge_egress(
        ports,
        port25,
        control_handshakes=controls,
        reverse=reverse,
        starttls_known=starttls_known,
        raw=raw,
        smtp_port=smtp_port,
    )
    return replace(verdict, evidence=(*notes, *verdict.evidence)) if notes else verdict


async def _greet(
    opened: Sequence[PortResult], cfg: Config, limit: asyncio.Semaphore, service: Service | None
) -> list[HandshakeResult]:
    """SMTP greeting (and STARTTLS or implicit TLS) on every port given, a few at a time."""

    async def one(r: PortResult) -> HandshakeResult:
        target = Target(r.host, r.address, r.port, service or Service.for_port(r.port) or Service.SMTP, "user")
        async with limit:
            return await handshake(target, cfg)

    return list(await asyncio.gather(*(one(r) for r in opened)))
