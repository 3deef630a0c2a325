"""Port scan: every (host, address) pair times every port, concurrently, results yielded as they come.

Connect mode needs no privileges (see net/connect.py). Concurrency is bounded by the configured global limit,
the process's descriptor budget and a per-address cap; timeouts adapt to the round trips measured so far.
Work goes target by target, all ports of one together, under a per-address cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

from mailprobe.config import Config
from mailprobe.errors import UnsafeTargetError
from mailprobe.model import PortResult
from mailprobe.net.connect import error_result, probe_adaptive
from mailprobe.net.limits import SCAN_PER_HOST, HostLimiter, RttEstimator, concurrency_cap, current_fd_budget


def scan_order(targets: Sequence[tuple[str, str]], ports: Sequence[int]) -> Iterator[tuple[str, str, int]]:
    """(host, address, port) target by target, duplicates dropped.

    All ports of a host together: the first wave then mixes ports, so some answer (and teach the round
    trip) even when one port is dropped everywhere; the per-host cap keeps any one host from a flood.
    """
    seen: set[tuple[str, str, int]] = set()
    for host, address in targets:
        for port in ports:
            item = (host, address, port)
            if item not in seen:
                seen.add(item)
                yield item


def raw_fallback_reason(cfg: Config) -> str | None:
    """Why a raw scan (cfg.raw) will run in connect mode instead, or None when raw mode will be used."""
    if not cfg.raw:
        return None
    from mailprobe.net.raw import raw_unavailable_reason

    reason = raw_unavailable_reason()
    return None if reason is None else f"--raw: {reason}; using connect mode"


async def scan(targets: Sequence[tuple[str, str]], ports: Sequence[int], cfg: Config) -> AsyncIterator[PortResult]:
    """Probe every port on every (host, address); yield each PortResult as soon as it is known.

    With cfg.raw and raw sockets available, SYN probes (net/raw.py) are used instead; without them the
    connect mode runs (`raw_fallback_reason` says why, for the user). A target the safety guard refuses,
    or that is not an address, yields an ERROR result; the rest go on.
    """
    work = list(scan_order(targets, ports))
    if not work:
        return
    if cfg.raw and raw_fallback_reason(cfg) is None:
        from mailprobe.net.raw import syn_scan

        for result in await syn_scan(targets, ports, cfg):
            yield result
        return
    timing = RttEstimator(cfg.limits.connect_timeout)
    per_host = HostLimiter(max(cfg.limits.per_host, SCAN_PER_HOST))
    results: asyncio.Queue[PortResult | None] = asyncio.Queue()
    pending = iter(work)  # shared by the workers: each item is taken once

    async def worker() -> None:
        try:
            for host, address, port in pending:
                service = cfg.service_for_port(port)
                async with per_host(address):
                    try:
                        result = await probe_adaptive(host, address, port, timing, service)
                    except UnsafeTargetError as exc:
                        result = error_result(host, address, port, f"refused by safety guard: {exc}", service)
                results.put_nowait(result)
        finally:
            results.put_nowait(None)

    workers = concurrency_cap(cfg.limits.global_concurrency, current_fd_budget(), len(work))
    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    try:
        finished = 0
        while finished < workers:
            item = await results.get()
            if item is None:
                finished += 1
            else:
                yield item
        for task in tasks:  # surface a worker's bug instead of losing it
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def scan_all(targets: Sequence[tuple[str, str]], ports: Sequence[int], cfg: Config) -> list[PortResult]:
    """The whole scan as a list, ordered by target then port as given."""
    target_rank = {pair: index for index, pair in reversed(list(enumerate(targets)))}
    port_rank = {port: index for index, port in reversed(list(enumerate(ports)))}
    found = [result async for result in scan(targets, ports, cfg)]
    return sorted(found, key=lambda r: (target_rank.get((r.host, r.address), 0), port_rank.get(r.port, 0)))
