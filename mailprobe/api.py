"""The library API: every stage on its own and the whole pipeline, as coroutines returning the report model.

import asyncio, mailprobe
from mailprobe.config import Config, Resolver
report = asyncio.run(mailprobe.audit(["example.org"], Config(resolver=Resolver("198.51.100.53"))))
"""

from __future__ import annotations

from collections.abc import Sequence

from mailprobe.config import Config
from mailprobe.model import DomainDns, HandshakeResult, Report, Target


async def audit(targets: Sequence[str], cfg: Config | None = None) -> Report:
    """Resolve, reach, handshake and judge each target; one report."""
    from mailprobe.engine import audit as run

    return await run(targets, cfg or Config())


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
