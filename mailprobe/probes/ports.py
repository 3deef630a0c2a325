"""Port scan: every (host, address) pair times every port, results yielded as they come.

The probing itself belongs to the run's Scheduler (mailprobe/scheduler.py): connect probes under the
global, per-address and descriptor limits with timeouts learnt from the round trips of the whole run, or
raw SYN probes (cfg.raw, root) from one socket per address family. These helpers run a scan on a scheduler
of its own, for callers outside a run (egress, the tests, the library).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from mailprobe.config import Config
from mailprobe.model import PortResult
from mailprobe.scheduler import scan_order, scan_with

__all__ = ["raw_fallback_reason", "scan", "scan_all", "scan_order", "syn_scan"]


def raw_fallback_reason(cfg: Config) -> str | None:
    """Why a raw scan (cfg.raw) will run in connect mode instead, or None when raw mode will be used."""
    if not cfg.raw:
        return None
    from mailprobe.net.raw import raw_unavailable_reason

    reason = raw_unavailable_reason()
    return None if reason is None else f"--raw: {reason}; using connect mode"


async def scan(targets: Sequence[tuple[str, str]], ports: Sequence[int], cfg: Config) -> AsyncIterator[PortResult]:
    """Probe every port on every (host, address); yield each PortResult as soon as it is known.

    A target the safety guard refuses, or that is not an address, yields an ERROR result; the rest go on.
    """
    async for result in scan_with(cfg, targets, ports):
        yield result


async def scan_all(targets: Sequence[tuple[str, str]], ports: Sequence[int], cfg: Config) -> list[PortResult]:
    """The whole scan as a list, ordered by target then port as given."""
    target_rank = {pair: index for index, pair in reversed(list(enumerate(targets)))}
    port_rank = {port: index for index, port in reversed(list(enumerate(ports)))}
    found = [result async for result in scan(targets, ports, cfg)]
    return sorted(found, key=lambda r: (target_rank.get((r.host, r.address), 0), port_rank.get(r.port, 0)))


async def syn_scan(targets: Sequence[tuple[str, str]], ports: Sequence[int], cfg: Config) -> list[PortResult]:
    """Raw SYN scan (net/synscan.py, on a scheduler of its own); results ordered by target then port."""
    return await scan_all(targets, ports, replace(cfg, raw=True))
