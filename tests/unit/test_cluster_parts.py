"""The cluster's parts on their own: the scheduler plugin's leases and pace, the guard's narrowing, options.

The plugin runs here on a stand-in for the scheduler (its `workers`, `handlers` and `stream_handlers`, which
is all it uses); test_cluster.py runs it on a real one.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest

try:
    import distributed  # noqa: F401
except ImportError:  # pragma: no cover - CI installs the extra
    if os.environ.get("MAILPROBE_REQUIRE_LAB"):
        raise
    pytest.skip("Dask is not installed: pip install 'mailprobe[cluster]'", allow_module_level=True)

from mailprobe.cluster.coordinator import Coordinator
from mailprobe.cluster.options import ClusterOptions, parse_cluster
from mailprobe.cluster.worker import narrowest


class FakeScheduler:
    def __init__(self, workers: tuple[str, ...] = ("w1", "w2")) -> None:
        self.workers: dict[str, object] = dict.fromkeys(workers, object())
        self.handlers: dict[str, Any] = {}
        self.stream_handlers: dict[str, Any] = {}


async def started() -> tuple[Coordinator, FakeScheduler]:
    coordinator, scheduler = Coordinator(), FakeScheduler()
    await coordinator.start(scheduler)
    return coordinator, scheduler


def ask(
    c: Coordinator, lease: str, worker: str = "w1", units: int = 1, limit: int = 2, **kw: Any
) -> asyncio.Task[bool]:
    """A lease request for one destination (a name here: the plugin never sends anything anywhere)."""
    return asyncio.ensure_future(c.acquire(lease, worker, "mx.example.invalid", units, limit, **kw))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_leases_are_first_come_first_served_under_the_limit() -> None:
    c, scheduler = await started()
    assert {"mailprobe_acquire", "mailprobe_release", "mailprobe_started"} <= set(scheduler.handlers)
    assert "mailprobe_release" in scheduler.stream_handlers
    a, b, big, d = ask(c, "a"), ask(c, "b"), ask(c, "big", units=2), ask(c, "d")
    await settle()
    assert a.done() and b.done() and not big.done() and not d.done()
    c.release("a")
    await settle()
    assert not big.done() and not d.done()  # the 2-unit request waits for room; the 1-unit one behind it too
    c.release("b")
    await settle()
    assert big.result() and not d.done()
    c.release("big")
    await settle()
    assert d.result()
    c.release("d")
    assert c.state() == {"leases": 0, "waiting": 0, "destinations": 0, "runs": 0, "kept": 0}


async def test_a_dead_workers_leases_are_freed_at_once() -> None:
    c, scheduler = await started()
    held, waiting = [ask(c, "x1", "w1"), ask(c, "x2", "w1")], ask(c, "y", "w2")
    await settle()
    assert all(t.result() for t in held) and not waiting.done()
    del scheduler.workers["w1"]
    c.remove_worker(scheduler, "w1", stimulus_id="test")
    await settle()
    assert waiting.result()
    assert c.state()["leases"] == 1


async def test_a_lease_granted_to_a_worker_that_died_meanwhile_is_not_kept() -> None:
    c, scheduler = await started()
    first, late = ask(c, "first", "w1", limit=1), ask(c, "late", "w2", limit=1)
    await settle()
    del scheduler.workers["w2"]
    c.release("first")
    await settle()
    assert late.result() is False
    assert c.state() == {"leases": 0, "waiting": 0, "destinations": 0, "runs": 0, "kept": 0}
    assert first.result()


async def test_a_request_given_up_before_or_while_it_waits_takes_nothing() -> None:
    c, _ = await started()
    c.release_from_stream("early", worker="w1")  # the release overtook its acquire
    assert await c.acquire("early", "w1", "d", 1, 1) is False
    holder, waiter = ask(c, "h", limit=1), ask(c, "w", limit=1)
    await settle()
    c.release("w")
    await settle()
    assert waiter.result() is False and holder.result()
    c.release("h")
    assert c.state()["destinations"] == 0


async def test_the_pace_spaces_grants_by_the_rate() -> None:
    c, _ = await started()
    began = time.monotonic()
    results = await asyncio.gather(*(c.acquire(f"r{i}", "w1", f"d{i}", 1, 4, rate=50.0, run="run") for i in range(6)))
    assert all(results)
    assert time.monotonic() - began >= 5 / 50.0 * 0.9  # six attempts at 50/s: the sixth 0.1 s after the first
    assert c.started("run", "chunk-1") == 1 and c.started("run", "chunk-1") == 2
    c.forget("run")
    assert c.state()["runs"] == 0


async def test_finished_reports_are_kept_until_their_chunk_returns() -> None:
    c, _ = await started()
    c.finished("run", "chunk-1", 0, b"r0")  # before the run started: a stray message, dropped
    assert c.state()["kept"] == 0
    assert c.started("run", "chunk-1") == 1
    c.finished("run", "chunk-1", 0, b"r0")
    c.finished("run", "chunk-1", 2, b"r2")
    c.finished("run", "chunk-2", 3, b"r3")
    assert c.resume("run", "chunk-1") == [[0, b"r0"], [2, b"r2"]]  # a retry reads them, they stay
    assert c.state()["kept"] == 3
    c.chunk_done("run", "chunk-1")
    assert c.resume("run", "chunk-1") == [] and c.state()["kept"] == 1
    assert c.resume("run", "chunk-2", drop=True) == [[3, b"r3"]]  # a chunk given up: taken once
    assert c.state()["kept"] == 0
    c.finished("run", "chunk-3", 4, b"r4")
    c.forget("run")
    c.finished("run", "chunk-3", 5, b"r5")  # late, after the run was forgotten: not kept
    assert c.state()["kept"] == 0


def test_the_guard_is_the_narrower_of_the_clients_and_the_workers() -> None:
    assert narrowest(None, None) is None
    assert narrowest("127.0.0.0/8", None) == "127.0.0.0/8"
    assert narrowest(None, "::1/128") == "::1/128"
    assert narrowest("127.0.0.2/32", "127.0.0.0/8,198.51.100.0/24") == "127.0.0.2/32"
    assert narrowest("127.0.0.0/8,::1/128", "127.0.0.0/24,2001:db8::/32") == "127.0.0.0/24"
    assert narrowest("198.51.100.0/24", "203.0.113.0/24") == ""  # nothing in common: nothing allowed


def test_cluster_options() -> None:
    assert parse_cluster("local:2") == ClusterOptions(local_workers=2)
    spec = parse_cluster("tcp://10.1.2.3:8786, per-destination=4, rate=2.5, chunk=64")
    assert spec == ClusterOptions(address="tcp://10.1.2.3:8786", per_destination=4, rate=2.5, chunk=64)
    assert parse_cluster("local").local_workers >= 1
    assert parse_cluster("local:1,per-destination=0").per_destination == 0  # no cluster-wide cap
