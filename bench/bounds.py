"""What the network allows, as the benches print it: round trips x RTT + the time to call a port filtered.

An answered port costs one round trip; a silent one costs what mailprobe.net.timing waits once the round trip
is known: a first try of max(RTT_FLOOR, RTT_MULTIPLE x RTT) and one retry of RETRY_BACKOFF times that. A whole
process cannot beat bound + the interpreter's start-up, measured as `python -m mailprobe --version`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def filtered_seconds(rtt: float) -> tuple[float, str]:
    """Seconds to call a silent port filtered at this round trip, and how."""
    from mailprobe.net.timing import RETRY_BACKOFF, RTT_FLOOR, RTT_MULTIPLE

    first = max(RTT_FLOOR, RTT_MULTIPLE * rtt)
    how = (
        f"first try max({RTT_FLOOR * 1000:.0f} ms, {RTT_MULTIPLE:g} x RTT) = {first * 1000:.0f} ms + "
        f"retry x{RETRY_BACKOFF:g} = {first * RETRY_BACKOFF * 1000:.0f} ms"
    )
    return first * (1 + RETRY_BACKOFF), how


def compile_bytecode(*trees: Path) -> None:
    """Byte-compile the mailprobe package of each tree (default: this checkout) before anything is timed.

    An installed package has its .pyc files; a checkout run with PYTHONDONTWRITEBYTECODE=1 (as in this
    workplace's shells) would compile every module from source on every run, 0.1-0.2 s of CPU that no user
    pays. compileall writes them whatever that variable says."""
    import compileall

    for tree in trees or (Path(__file__).resolve().parent.parent,):
        compileall.compile_dir(str(tree / "mailprobe"), quiet=1)


def mailprobe_command(tree: Path | None) -> list[str]:
    """`python -m mailprobe`, from another checkout's tree when asked (to time an older version beside). Not
    PYTHONPATH: with `-m` the working directory comes first on sys.path, and it may hold this checkout."""
    if tree is None:
        return [sys.executable, "-m", "mailprobe"]
    code = f"import runpy, sys; sys.path.insert(0, {str(tree)!r}); runpy.run_module('mailprobe', run_name='__main__')"
    return [sys.executable, "-c", code]


def startup_seconds(lab: Any, runs: int = 3) -> float:
    """Median wall time of `python -m mailprobe --version` in the lab's client namespace."""
    times = []
    for _ in range(runs):
        started = time.monotonic()
        lab.run_client([sys.executable, "-m", "mailprobe", "--version"], timeout=60)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def proc_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds of a process (with its reaped children) from /proc/<pid>/stat; 0 when it is gone."""
    try:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(rest[11]) + int(rest[12]) + (int(rest[13]) + int(rest[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def namespace_cpu(ns: str) -> float:
    """CPU seconds of every process in a namespace; exited children count through their parents' cutime."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False).stdout
    return sum(proc_cpu(int(pid)) for pid in out.split() if pid.isdigit())


@dataclass
class CpuMeter:
    """Where the CPU went while a tool ran: the machine, the lab's servers, its delay wire (both sides of the
    lab share the machine's cores, so a saturated machine bounds every tool's wall time)."""

    lab: Any
    busy: float = 0.0  # share of all cores busy
    machine: float = 0.0  # CPU seconds over all cores
    servers: float = 0.0  # every process in the servers namespace, reaped children included
    wire: float = 0.0  # tests/lab/delay.py
    tool: float = 0.0  # the measured tool's own CPU seconds, when the caller knows them
    _start: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)

    def _wire_pid(self) -> int:
        wire = getattr(self.lab, "_wire", None)  # labnet keeps it private
        return int(wire.pid) if wire is not None else 0

    def __enter__(self) -> CpuMeter:
        busy, total = cpu_ticks()
        pid = self._wire_pid()
        self._start = (busy, total, namespace_cpu(self.lab.servers_ns), proc_cpu(pid) if pid else 0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = cpu_ticks()
        busy0, total0, servers0, wire0 = self._start
        pid = self._wire_pid()
        self.busy = (busy - busy0) / max(1, total - total0)
        self.machine = (busy - busy0) / os.sysconf("SC_CLK_TCK")
        self.servers = namespace_cpu(self.lab.servers_ns) - servers0
        self.wire = (proc_cpu(pid) - wire0) if pid else 0.0

    def describe(self, tool_cpu: float) -> str:
        cores = os.cpu_count() or 1
        other = max(0.0, self.machine - tool_cpu - self.servers - self.wire)
        return (
            f"machine busy {self.busy:.0%} of {cores} cores = {self.machine:.1f} CPU s: the tool {tool_cpu:.1f}, "
            f"lab servers {self.servers:.1f}, delay wire {self.wire:.1f}, everything else {other:.1f}; "
            f"all of it over {cores} cores = {self.machine / cores:.2f} s"
        )
