"""Wakeups: many deadlines on one loop timer, earliest first, never late because another was set meanwhile."""

from __future__ import annotations

import asyncio

from mailprobe.net.wakeups import Wakeups


async def test_deadlines_fire_in_order_of_due_time() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    wakeups: Wakeups[str] = Wakeups(loop, lambda item, tag, now: fired.append(item))
    start = loop.time()
    for name, delay in (("c", 0.06), ("a", 0.02), ("b", 0.04)):
        wakeups.at(start + delay, name, 0)
    await asyncio.sleep(0.12)
    assert fired == ["a", "b", "c"]


async def test_a_later_look_set_while_firing_does_not_delay_an_earlier_deadline() -> None:
    """`a` is due first and, when it fires, asks to be looked at again in 1 s; `b`, already waiting and due
    0.05 s later, must still fire on time (the timer follows the earliest deadline, not the last one set)."""
    loop = asyncio.get_running_loop()
    fired: dict[str, float] = {}
    start = loop.time()

    def on_due(item: str, tag: int, now: float) -> None:
        fired.setdefault(item, now - start)
        if item == "a" and tag == 0:
            wakeups.at(now + 1.0, "a", 1)

    wakeups: Wakeups[str] = Wakeups(loop, on_due)
    wakeups.at(start + 0.02, "a", 0)
    wakeups.at(start + 0.07, "b", 0)
    await asyncio.sleep(0.2)
    wakeups.close()
    assert "b" in fired, "b waited for a's later look"
    assert fired["a"] < 0.1
    assert 0.07 <= fired["b"] < 0.15


async def test_close_cancels_what_is_pending() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    wakeups: Wakeups[str] = Wakeups(loop, lambda item, tag, now: fired.append(item))
    wakeups.at(loop.time() + 0.02, "a", 0)
    wakeups.close()
    await asyncio.sleep(0.05)
    assert fired == []
