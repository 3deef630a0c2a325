"""What a cluster-wide destination lease costs: a LocalCluster with one worker process on loopback, and on it
N sessions' worth of leases (acquire on the scheduler, release on the worker's batched stream) taken
through the same ClusterDestinations the engine uses, one after another (the latency one connection pays) and
64 at a time (what the scheduler sustains), with and without a global rate. Nothing is probed: the leases
are for names, and the scheduler only counts.

    .venv/bin/python bench/cluster_lease_cost.py [--leases 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _time_leases(count: int, at_once: int, rate: float) -> float:
    """On the worker: seconds per lease, `at_once` sessions' leases in flight."""
    from distributed import get_worker

    from mailprobe.cluster.worker import Chunk, ClusterDestinations, Link
    from mailprobe.config import Config
    from mailprobe.engine import Stages

    chunk = Chunk("bench", "bench-0", (), Config(), Stages(), None, per_destination=16, rate=rate)
    destinations = ClusterDestinations(Link(get_worker()), chunk)

    async def one(index: int) -> None:
        async with destinations.session(f"mx{index % 500}.example.invalid"):
            pass

    async def run() -> float:
        began = time.perf_counter()
        for start in range(0, count, at_once):
            await asyncio.gather(*(one(i) for i in range(start, min(count, start + at_once))))
        return (time.perf_counter() - began) / count

    return asyncio.run(run())


def _time_calls(count: int) -> float:
    """On the worker: seconds per plain scheduler call (mailprobe_state) from an event loop of its own, one
    after another: the round trip and the hops between the two loops, without the lease's bookkeeping."""
    from distributed import get_worker

    from mailprobe.cluster.worker import Link

    link = Link(get_worker())

    async def run() -> float:
        began = time.perf_counter()
        for _ in range(count):
            await link.call("mailprobe_state")
        return (time.perf_counter() - began) / count

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=3000)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    from mailprobe.cluster.coordinator import Coordinator

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(Coordinator())
        per = client.submit(_time_calls, args.leases, pure=False).result()
        print(f"{args.leases} plain scheduler calls, 1 at a time: {per * 1e6:7.0f} us per call")
        for at_once, rate in ((1, 0.0), (64, 0.0), (64, 20000.0)):
            per = client.submit(_time_leases, args.leases, at_once, rate, pure=False).result()
            paced = f", paced at {rate:g}/s" if rate else ""
            print(f"{args.leases} leases, {at_once:2d} at a time{paced}: {per * 1e6:7.0f} us per lease, "
                  f"{1 / per:7.0f} leases/s")  # fmt: skip
        state = client.sync(client.scheduler.mailprobe_state)
        print(f"afterwards on the scheduler: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
