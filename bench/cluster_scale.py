"""1,000 lab targets three ways: one process, `--cluster local:2`, and `--cluster local:2` with one worker
killed (SIGKILL, by PID) --kill-delay seconds after half the targets are done (reports come back a chunk at a
time, so the half-way mark falls on a chunk boundary; the delay puts the kill in the middle of the chunks then
running): wall time, peak RSS per process, targets retried.

Targets and lab as bench/audit_scale.py: 1,000 distinct addresses DNATed by the lab router to mx1 (Postfix and
Dovecot), a round trip of --rtt-ms (default 50), each a full `mailprobe audit` (port scan of the seven mail
ports, seven handshakes with STARTTLS and the TLS 1.0/1.1 probes, the checks):
    mailprobe audit -i targets.txt --format jsonl --output out.jsonl --allow-nonpublic --ca-file LAB_CA
                    --resolver LAB_DNS --timeout T [--cluster local:2]
run in the lab's client namespace (the LocalCluster's scheduler and both worker processes with it).

Measured from outside: wall time; the peak RSS (VmHWM) of every process of the run, sampled from /proc every
0.1 s and named by role (the mailprobe process, which with --cluster also hosts the client, the scheduler and
the two nannies; each worker process; Python's multiprocessing helpers); the targets whose reports say
`retried`; how busy the machine was and where its CPU went (mailprobe's processes, Postfix+Dovecot, the
delay wire), which says whether the two cores, not the scheduling, are the limit.

Needs root and the lab packages. Exit 1 if a run lost or duplicated a target or a target reported errors.

    sudo .venv/bin/python bench/cluster_scale.py [--rtt-ms 50] [--targets 1000] [--timeout 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit_scale import REPO, V4_RANGE, V6_RANGE, dnat_rules, targets
from bounds import cpu_ticks, namespace_cpu, proc_cpu

sys.path.insert(0, str(REPO / "tests" / "lab"))


@dataclass
class Run:
    name: str
    wall: float = 0.0
    exit_code: int = 0
    peak_kb: dict[int, int] = field(default_factory=dict)  # pid -> VmHWM
    roles: dict[int, str] = field(default_factory=dict)
    killed: int | None = None  # the worker's pid
    killed_at: int = 0  # targets done at the half-way mark
    kill_delay: float = 0.0  # seconds after that mark
    positions: Counter[int] = field(default_factory=Counter)
    retried: int = 0
    errors: list[Any] = field(default_factory=list)
    sessions: Counter[str] = field(default_factory=Counter)
    machine_busy: float = 0.0
    machine_cpu: float = 0.0
    mailprobe_cpu: float = 0.0
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> CPU seconds (last seen)
    servers_cpu: float = 0.0
    wire_cpu: float = 0.0
    stderr_tail: str = ""


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        children: list[int] = []
        for task in Path(f"/proc/{current}/task").glob("*"):  # every thread: a nanny starts its worker from one
            try:
                children += map(int, (task / "children").read_text().split())
            except OSError:
                continue
        for child in children:
            found.append(child)
            todo.append(child)
    return found


def _role(pid: int, root: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    if pid == root:
        return "mailprobe"
    if "resource_tracker" in cmdline or "forkserver" in cmdline:
        return "multiprocessing helper"
    if "multiprocessing.spawn" in cmdline:
        return "worker"
    return "ip netns exec" if cmdline.startswith("ip ") else cmdline[:40]


def _count_done(path: Path) -> int:
    try:
        return path.read_bytes().count(b'"type":"summary"')
    except OSError:
        return 0


def run_once(
    lab: Any, name: str, files: tuple[Path, Path], timeout: float, cluster: str = "", kill: bool = False,
    limit: float = 1200.0, kill_delay: float = 0.0,
) -> Run:
    from labnet import SAFE_NETWORKS

    target_file, out = files
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "mailprobe", "audit", "-i", str(target_file), "--format", "jsonl", "--output",
            str(out), "--ca-file", lab.ca_file, "--resolver", lab.dns4, "--timeout", f"{timeout:g}",
            "--allow-nonpublic", "--fail-on", "never"] + (["--cluster", cluster] if cluster else [])  # fmt: skip
    env = dict(os.environ, MAILPROBE_ALLOW_ONLY=SAFE_NETWORKS)
    env.pop("CI", None)
    run = Run(name, kill_delay=kill_delay)
    total = sum(1 for line in target_file.read_text().splitlines() if line and not line.startswith("#"))
    wire = getattr(lab, "_wire", None)
    wire_pid = wire.pid if wire is not None else 0
    busy0, total0 = cpu_ticks()
    servers0, wire0 = namespace_cpu(lab.servers_ns), proc_cpu(wire_pid) if wire_pid else 0.0
    cpu_seen: dict[int, float] = {}
    started = time.monotonic()
    half_at: float | None = None
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.client_ns, *argv],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO, text=True,
    )  # fmt: skip
    root = proc.pid  # `ip netns exec` execs python in place: the same pid
    while proc.poll() is None:
        for pid in [root, *_descendants(root)]:
            hwm = _status_kb(pid, "VmHWM")
            if hwm:
                run.peak_kb[pid] = max(run.peak_kb.get(pid, 0), hwm)
                run.roles.setdefault(pid, _role(pid, root))
                seconds = proc_cpu(pid, children=False)
                cpu_seen[pid] = max(cpu_seen.get(pid, 0.0), seconds)
        partial = out.with_name(f".{out.name}.{root}.tmp")  # JSONL is written here, renamed over out at the end
        if kill and half_at is None and _count_done(partial) >= total // 2:
            half_at = time.monotonic()
        if half_at is not None and run.killed is None and time.monotonic() - half_at >= kill_delay:
            workers = [pid for pid, role in run.roles.items() if role == "worker" and Path(f"/proc/{pid}").exists()]
            if workers:
                run.killed, run.killed_at = workers[0], _count_done(partial)
                os.kill(workers[0], signal.SIGKILL)
        if time.monotonic() - started > limit and proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # a run that does not end is a finding, not a hung bench
            limit = float("inf")
        time.sleep(0.1)
    run.wall = time.monotonic() - started
    run.stderr_tail = (proc.stderr.read() if proc.stderr else "")[-3000:]
    busy1, total1 = cpu_ticks()
    run.machine_busy = (busy1 - busy0) / max(1, total1 - total0)
    run.machine_cpu = (busy1 - busy0) / os.sysconf("SC_CLK_TCK")
    run.servers_cpu = namespace_cpu(lab.servers_ns) - servers0
    run.wire_cpu = (proc_cpu(wire_pid) - wire0) if wire_pid else 0.0
    run.cpu = cpu_seen
    run.mailprobe_cpu = sum(cpu_seen.values())  # as last seen (the killed worker's until its death)
    run.exit_code = proc.returncode
    read_results(out, run)
    return run


def read_results(path: Path, run: Run) -> None:
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        if obj.get("type") == "run":
            run.positions[int(dict(_pairs(obj.get("meta")))["index"])] += 1
        elif obj.get("type") == "summary":
            run.retried += len(obj.get("retried") or [])
            run.errors.extend(obj.get("errors") or [])
        elif obj.get("type") == "target":
            for session in obj.get("handshakes") or []:
                run.sessions[session["status"]] += 1


def _pairs(meta: Any) -> list[tuple[str, str]]:
    return list(meta.items()) if isinstance(meta, dict) else [tuple(pair) for pair in meta or []]


def report(run: Run, size: int) -> int:
    problems = 0
    lost = [p for p in range(size) if run.positions[p] == 0]
    twice = [p for p, n in run.positions.items() if n > 1]
    print(f"{run.name} (exit {run.exit_code}):")
    print(f"  wall {run.wall:.1f} s, {size / run.wall:.1f} targets/s; retried {run.retried}; "
          f"reported {sum(run.positions.values())}, lost {len(lost)}, twice {len(twice)}")  # fmt: skip
    if run.killed:
        after = f"{run.kill_delay:g} s after {run.killed_at} targets were done"
        print(f"  killed worker pid {run.killed} (SIGKILL) {after}")
    for pid, kb in sorted(run.peak_kb.items(), key=lambda item: (item[1] < 20000, item[0])):
        mark = " (killed)" if pid == run.killed else ""
        print(f"  peak RSS {kb / 1024:7.1f} MiB  pid {pid:>7}  {run.roles.get(pid, '?')}{mark}")
    cores = os.cpu_count() or 1
    others = run.machine_cpu - run.mailprobe_cpu - run.servers_cpu - run.wire_cpu
    print(f"  CPU: machine busy {run.machine_busy:.0%} of {cores} cores ({run.machine_cpu:.0f} s): mailprobe's "
          f"processes {run.mailprobe_cpu:.0f} s, Postfix+Dovecot {run.servers_cpu:.0f} s, the delay wire "
          f"{run.wire_cpu:.0f} s, everything else on the machine {others:.0f} s")  # fmt: skip
    for pid, seconds in sorted(run.cpu.items()):
        print(f"    CPU {seconds:6.1f} s  pid {pid:>7}  {run.roles.get(pid, '?')}")
    print(f"  sessions: {dict(run.sessions)}")
    if lost or twice:
        problems += 1
        print(f"  PROBLEM: lost {lost[:10]}, twice {twice[:10]}")
    if run.errors:
        problems += 1
        print(f"  PROBLEM: {len(run.errors)} target errors, e.g. {run.errors[:3]}")
    if run.exit_code not in (0, 1):
        problems += 1
        print(f"  PROBLEM: exit {run.exit_code}: {run.stderr_tail[-1500:]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--runs", default="single,cluster,killed", help="which of single,cluster,killed to run")
    parser.add_argument("--kill-delay", type=float, default=20.0, help="seconds after the half-way mark")
    args = parser.parse_args()
    chosen_runs = {name.strip() for name in args.runs.split(",")}
    from labnet import Lab, LabUnavailable

    try:
        lab = Lab.up(rtt_ms=args.rtt_ms)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}")
        return 2
    problems = 0
    try:
        subprocess.run(["ip", "netns", "exec", lab.router_ns, "nft", "-f", "-"], input=dnat_rules(), text=True,
                       check=True)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="mp-cluster-scale-") as tmp:
            work = Path(tmp)
            work.chmod(0o755)
            chosen = targets()[: args.targets]
            target_file = work / "targets.txt"
            target_file.write_text("\n".join(chosen) + "\n")
            files = (target_file, work / "out.jsonl")
            print(f"lab up in {lab.start_seconds:.1f} s; rtt {args.rtt_ms:g} ms; {len(chosen)} targets "
                  f"({V4_RANGE} and {V6_RANGE}) DNATed to mx1")  # fmt: skip
            plans = [
                ("single", "one process", "", False),
                ("cluster", "--cluster local:2", "local:2", False),
                ("killed", "--cluster local:2, one worker killed halfway", "local:2", True),
            ]
            runs = []
            for key, name, cluster, kill in plans:
                if key in chosen_runs:
                    runs.append(run_once(lab, name, files, args.timeout, cluster, kill, kill_delay=args.kill_delay))
                    problems += report(runs[-1], len(chosen))
                    sys.stdout.flush()
            print("summary:")
            for run in runs:
                biggest = max(run.peak_kb.values(), default=0) / 1024
                print(f"  {run.name:46s} wall {run.wall:6.1f} s  largest process {biggest:6.1f} MiB  "
                      f"retried {run.retried:4d}  machine busy {run.machine_busy:.0%}")  # fmt: skip
        return 1 if problems else 0
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
