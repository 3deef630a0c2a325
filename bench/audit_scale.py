"""`mailprobe audit -i FILE --format jsonl` on up to 1,000 lab targets: wall time, peak memory, and what limits
the wall time (the bounds it is compared with).

Targets: distinct addresses that all reach the lab's one mail host (mx1: Postfix 25/587/465, Dovecot
110/995/143/993) through nftables DNAT on the lab router, which also adds the round trip (default 50 ms):
    IPv4 203.0.113.100 .. 203.0.113.249   (150 addresses -> 203.0.113.25)
    IPv6 2001:db8:113::1:0 .. ::1:351     (850 addresses -> 2001:db8:113::25)
interleaved (3 IPv4 in every 20), so every prefix of the list mixes both families. Why distinct addresses and
not one address repeated: mailprobe treats each address as its own host (its per-host session cap, its own
port scan and report), as it would in a real batch of 1,000 hosts; a repeated line would be the same host
probed again. What is shared is the server side: one Postfix and one Dovecot answer every session.

Each target is a full audit of an address: port scan of the seven mail ports, then the seven handshakes with
STARTTLS and TLS facts, the TLS 1.0/1.1 acceptance probes (`audit` turns them on), and the checks:
    mailprobe audit -i targets.txt --format jsonl --output out.jsonl --allow-nonpublic
                    --ca-file LAB_CA --resolver LAB_DNS --timeout T
run under /usr/bin/time -v in the client namespace, for each size in --sizes (a prefix of the same list).

Printed per size: wall time; peak RSS of the mailprobe process (time -v's maximum resident set size) and its
RSS sampled from /proc while the targets complete (at each quarter of the run); the slowest and median
target (the JSONL summary lines' elapsed_ms); targets in flight on average (sum of target times / wall);
how busy the machine was and the CPU seconds of mailprobe, of Postfix and Dovecot and of the delay wire (both
sides of the lab share the same cores); what the ports and sessions ended as; and two bounds: the network's
(one target alone, measured: its round trips) and the machine's (all the CPU seconds the run used, over the
cores). The wall time cannot beat the larger; when the machine's is the larger, the servers' CPU is what
limits the run, not mailprobe's scheduling.

Needs root and the lab packages (tests/lab/install-deps.sh). Exit 1 if a target reported errors, a session
did not succeed, or the peak RSS at the largest size is more than 1.5x that at the smallest.

    sudo .venv/bin/python bench/audit_scale.py [--rtt-ms 50] [--sizes 100,250,500,1000] [--legacy-check 250]

--legacy-check N (default 250; 0 skips it) then runs `mailprobe handshake -i` on N targets with and without
--legacy-tls, to show what the TLS 1.0/1.1 probes that `audit` always runs cost in memory and time (they are
separate sessions after each main session; against Dovecot here, which refuses TLS 1.0/1.1, every one ends in
a failed handshake).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bounds import compile_bytecode, cpu_ticks, namespace_cpu, proc_cpu

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))

MAIL4, MAIL6 = "203.0.113.25", "2001:db8:113::25"
V4 = [str(ipaddress.IPv4Address("203.0.113.100") + i) for i in range(150)]
V6 = [str(ipaddress.IPv6Address("2001:db8:113::1:0") + i) for i in range(850)]
V4_RANGE = f"{V4[0]}-{V4[-1]}"


V6_RANGE = f"{V6[0]}-{V6[-1]}"


def targets() -> list[str]:
    """1,000 distinct addresses, 3 IPv4 in every 20 (150 IPv4, 850 IPv6)."""
    v4, v6 = iter(V4), iter(V6)
    return [next(v4) if i % 20 < 3 else next(v6) for i in range(len(V4) + len(V6))]


def dnat_rules() -> str:
    """The router rewrites every target address to the mail host; conntrack translates the replies back."""
    return (
        "table inet mpbench {\n"
        "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f"    ip daddr {V4_RANGE} dnat ip to {MAIL4}\n"
        f"    ip6 daddr {V6_RANGE} dnat ip6 to {MAIL6}\n"
        "  }\n"
        "}\n"
    )


@dataclass
class Run:
    size: int
    wall: float = 0.0
    exit_code: int = 0
    peak_rss_kb: int = 0  # /usr/bin/time -v
    cpu_seconds: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy during the run
    machine_cpu: float = 0.0  # CPU seconds over all cores during the run
    servers_cpu: float = 0.0  # Postfix and Dovecot (every process in the servers namespace, children included)
    wire_cpu: float = 0.0  # tests/lab/delay.py, which carries every frame with the added delay
    samples: list[tuple[int, int]] = field(default_factory=list)  # (targets done, VmRSS kB)
    sampled_hwm_kb: int = 0
    tree_pss_peak_kb: int = 0  # mailprobe and the processes it forked (--jobs), shared pages counted once (PSS)
    target_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sessions: Counter[str] = field(default_factory=Counter)
    ports: Counter[str] = field(default_factory=Counter)
    legacy: Counter[str] = field(default_factory=Counter)
    scan_ms: list[float] = field(default_factory=list)
    session_ms: list[float] = field(default_factory=list)
    stderr_tail: str = ""


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_pss_kb(pid: int) -> int:
    """Proportional set size of `pid` and its children (--jobs forks them; PSS counts a page shared by the
    copy-on-write fork once in all, where adding RSS would count it in every process)."""
    total = 0
    for each in (pid, *_children(pid)):
        try:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _child_of(pid: int) -> int | None:
    """The one child of `pid` (time -v runs mailprobe as its child)."""
    children = _children(pid)
    return children[0] if children else None


def _count_done(path: Path, offset: int, done: int) -> tuple[int, int]:
    """Summary lines (one per finished target) appended to the JSONL file since `offset`."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except OSError:
        return offset, done
    end = chunk.rfind(b"\n") + 1  # only whole lines
    return offset + end, done + chunk[:end].count(b'"type":"summary"')


def run_audit(
    lab: Any, size: int, work: Path, timeout: float, command: tuple[str, ...] = ("audit",), jobs: int = 1
) -> Run:
    """`mailprobe <command> -i FILE --format jsonl` on the first `size` targets, measured from outside."""
    from labnet import SAFE_NETWORKS

    chosen = targets()[:size]
    target_file, out = work / f"targets-{size}.txt", work / f"out-{size}.jsonl"
    target_file.write_text("# bench/audit_scale.py: lab addresses DNATed to mx1\n" + "\n".join(chosen) + "\n")
    out.unlink(missing_ok=True)
    options = ["--format", "jsonl", "--output", str(out), "--ca-file", lab.ca_file, "--resolver", lab.dns4]
    options += ["--timeout", f"{timeout:g}"] + (["--allow-nonpublic"] if command[0] == "audit" else [])
    options += ["--jobs", str(jobs)] if jobs > 1 else []
    mailprobe = [sys.executable, "-m", "mailprobe", *command, "-i", str(target_file), *options]
    argv = ["ip", "netns", "exec", lab.client_ns, "/usr/bin/time", "-v", *mailprobe]
    env = dict(os.environ, MAILPROBE_ALLOW_ONLY=SAFE_NETWORKS)
    env.pop("CI", None)
    run = Run(size)
    stderr_path = work / f"stderr-{size}.txt"
    wire = getattr(lab, "_wire", None)  # the delay wire's process (labnet keeps it private)
    wire_pid = wire.pid if wire is not None else 0
    busy0, total0 = cpu_ticks()
    servers0, wire0 = namespace_cpu(lab.servers_ns), proc_cpu(wire_pid) if wire_pid else 0.0
    started = time.monotonic()
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=REPO
        )
        child = None
        offset = done = 0
        while proc.poll() is None:
            child = child or _child_of(proc.pid)
            if child is not None:
                offset, done = _count_done(out, offset, done)
                rss = _status_kb(child, "VmRSS")
                if rss:
                    run.samples.append((done, rss))
                run.sampled_hwm_kb = max(run.sampled_hwm_kb, _status_kb(child, "VmHWM"))
                if jobs > 1:
                    run.tree_pss_peak_kb = max(run.tree_pss_peak_kb, _tree_pss_kb(child))
            time.sleep(0.1)
    run.wall = time.monotonic() - started
    busy1, total1 = cpu_ticks()
    run.machine_busy = (busy1 - busy0) / max(1, total1 - total0)
    run.machine_cpu = (busy1 - busy0) / os.sysconf("SC_CLK_TCK")
    run.servers_cpu = namespace_cpu(lab.servers_ns) - servers0
    run.wire_cpu = (proc_cpu(wire_pid) - wire0) if wire_pid else 0.0
    run.exit_code = proc.returncode
    text = stderr_path.read_text(errors="replace")
    run.stderr_tail = text[-3000:]
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    run.peak_rss_kb = int(peak.group(1)) if peak else 0
    run.cpu_seconds = (float(user.group(1)) if user else 0.0) + (float(system.group(1)) if system else 0.0)
    read_results(out, run)
    return run


def read_results(path: Path, run: Run) -> None:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            kind = obj.get("type")
            if kind == "summary":
                run.target_ms.append(obj["elapsed_ms"])
                run.errors.extend(obj.get("errors") or [])
            elif kind == "target":
                for port in obj.get("ports") or []:
                    run.ports[port["state"]] += 1
                if obj.get("ports"):
                    run.scan_ms.append(max(p["elapsed_ms"] for p in obj["ports"]))
                for session in obj.get("handshakes") or []:
                    run.sessions[session["status"]] += 1
                    run.session_ms.append(session["elapsed_ms"])
                    tls = session.get("tls") or {}
                    if tls:
                        accepted = ",".join(tls.get("legacy_versions") or []) or "none"
                        unknown = ",".join(tls.get("legacy_unknown") or [])
                        run.legacy[f"{accepted}, not judged {unknown}" if unknown else accepted] += 1


def _quartiles(samples: list[tuple[int, int]], size: int) -> str:
    """RSS when a quarter, half, three quarters and all of the targets had completed."""
    marks = []
    for share in (0.25, 0.5, 0.75, 1.0):
        goal = max(1, int(size * share))
        reached = [rss for done, rss in samples if done >= goal]
        marks.append(f"{share:.0%} {reached[0] / 1024:.0f}" if reached else f"{share:.0%} -")
    return ", ".join(marks)


def report(run: Run, rtt_ms: float, alone_s: float) -> int:
    problems = 0
    slowest = max(run.target_ms, default=0.0)
    median = statistics.median(run.target_ms) if run.target_ms else 0.0
    in_flight = sum(run.target_ms) / 1000 / run.wall if run.wall else 0.0
    sessions = sum(run.sessions.values())
    print(f"{run.size} targets (exit {run.exit_code}):")
    print(f"  wall {run.wall:.1f} s, {run.size / run.wall:.1f} targets/s")
    print(
        f"  peak RSS {run.peak_rss_kb / 1024:.1f} MiB (time -v); sampled VmHWM {run.sampled_hwm_kb / 1024:.1f} MiB; "
        f"RSS in MiB after {_quartiles(run.samples, run.size)} of the targets"
    )
    cores = os.cpu_count() or 1
    machine_bound = run.machine_cpu / cores
    larger = max(alone_s, machine_bound)
    print(
        f"  bounds: the network's, one target alone (whole process) {alone_s:.2f} s; the machine's, "
        f"{run.machine_cpu:.0f} CPU seconds over {cores} cores = {machine_bound:.1f} s; wall / the larger = "
        f"{run.wall / larger:.2f}"
    )
    print(
        f"  targets done: {len(run.target_ms)}; slowest target {slowest:.0f} ms ({slowest / rtt_ms:.0f} RTT), "
        f"median {median:.0f} ms; wall / slowest target = {run.wall * 1000 / slowest if slowest else 0:.1f}; "
        f"targets in flight on average {in_flight:.1f}"
    )
    if run.scan_ms and run.session_ms:
        print(
            f"  where a target's time goes (medians): port scan {statistics.median(run.scan_ms):.0f} ms, "
            f"handshake session incl. its TLS 1.0/1.1 probes {statistics.median(run.session_ms):.0f} ms "
            f"(slowest {max(run.session_ms):.0f} ms)"
        )
    print(
        f"  CPU: machine busy {run.machine_busy:.0%} of {os.cpu_count()} cores = {run.machine_cpu:.0f} s, of which "
        f"mailprobe {run.cpu_seconds:.0f} s ({run.cpu_seconds / run.wall:.0%} of one core), Postfix+Dovecot "
        f"{run.servers_cpu:.0f} s, the delay wire {run.wire_cpu:.0f} s"
    )
    print(
        f"  ports: {dict(run.ports)}; sessions: {sessions} {dict(run.sessions)}; "
        f"legacy TLS accepted: {dict(run.legacy)}"
    )
    if len(run.target_ms) != run.size:
        problems += 1
        print(f"  PROBLEM: {run.size - len(run.target_ms)} targets missing from the output")
    if run.errors:
        problems += 1
        print(f"  PROBLEM: {len(run.errors)} target errors, e.g. {run.errors[:3]}")
    failed = sessions - run.sessions.get("success", 0)
    if failed or sessions != 7 * run.size:
        problems += 1
        print(f"  PROBLEM: {failed} sessions did not succeed; {sessions} sessions for {7 * run.size} expected")
    if run.exit_code not in (0, 1):
        problems += 1
        print(f"  PROBLEM: exit {run.exit_code}: {run.stderr_tail[-1500:]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--sizes", default="100,250,500,1000", help="comma-separated target counts (each <= 1000)")
    parser.add_argument("--timeout", type=float, default=5.0, help="mailprobe --timeout (connect and each read)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="mailprobe --jobs N; memory is then the PSS of all its processes"
    )
    parser.add_argument(
        "--legacy-check",
        type=int,
        default=250,
        metavar="N",
        help="then `mailprobe handshake` on N targets with and without --legacy-tls (0: skip)",
    )
    parser.add_argument("--keep-output", type=Path, metavar="DIR", help="copy each run's JSONL report into DIR")
    args = parser.parse_args()
    compile_bytecode()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or not all(1 <= s <= len(V4) + len(V6) for s in sizes):
        parser.error(f"--sizes: each between 1 and {len(V4) + len(V6)}")
    if not os.access("/usr/bin/time", os.X_OK):
        print("/usr/bin/time is missing (Debian package `time`)")
        return 2

    from labnet import Lab, LabUnavailable

    began = time.monotonic()
    try:
        lab = Lab.up(rtt_ms=args.rtt_ms)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}")
        return 2
    problems = 0
    runs: list[Run] = []
    try:
        subprocess.run(
            ["ip", "netns", "exec", lab.router_ns, "nft", "-f", "-"], input=dnat_rules(), text=True, check=True
        )
        with tempfile.TemporaryDirectory(prefix="mp-audit-scale-") as tmp:
            work = Path(tmp)
            work.chmod(0o755)
            # Warm-up (neighbour caches, page cache), then one target alone: its time with nothing else running.
            run_audit(lab, 1, work, args.timeout)
            alone = run_audit(lab, 1, work, args.timeout)
            print(
                f"lab up in {lab.start_seconds:.1f} s; rtt {args.rtt_ms:g} ms; targets: distinct addresses "
                f"({V4_RANGE} and {V6_RANGE}, 3 IPv4 in 20) DNATed to mx1"
            )
            alone_ms = max(alone.target_ms, default=0.0)
            print(
                f"one target alone: {alone_ms:.0f} ms ({alone_ms / args.rtt_ms:.0f} RTT), wall {alone.wall:.2f} s, "
                f"peak RSS {alone.peak_rss_kb / 1024:.0f} MiB"
            )
            for size in sizes:
                run = run_audit(lab, size, work, args.timeout, jobs=args.jobs)
                runs.append(run)
                if args.keep_output:
                    args.keep_output.mkdir(parents=True, exist_ok=True)
                    shutil.copy(work / f"out-{size}.jsonl", args.keep_output / f"audit-{size}.jsonl")
                problems += report(run, args.rtt_ms, alone.wall)
            if args.legacy_check:
                print(f"`mailprobe handshake -i` on {args.legacy_check} targets (no port scan, no checks):")
                for command in (("handshake",), ("handshake", "--legacy-tls")):
                    run = run_audit(lab, args.legacy_check, work, args.timeout, command)
                    slowest = max(run.target_ms, default=0.0)
                    print(
                        f"  {' '.join(command):24s} wall {run.wall:5.1f} s, "
                        f"peak RSS {run.peak_rss_kb / 1024:6.1f} MiB, "
                        f"median target {statistics.median(run.target_ms or [0]):5.0f} ms, slowest {slowest:5.0f} ms, "
                        f"sessions {dict(run.sessions)}"
                        + (f", TLS 1.0/1.1 accepted {dict(run.legacy)}" if "--legacy-tls" in command else "")
                    )
        print("summary:")
        for run in runs:
            slowest = max(run.target_ms, default=0.0)
            pss = run.tree_pss_peak_kb / 1024
            tree = f", all {args.jobs} processes' peak PSS {pss:6.1f} MiB" if args.jobs > 1 else ""
            print(
                f"  {run.size:>5} targets: wall {run.wall:6.1f} s, peak RSS {run.peak_rss_kb / 1024:6.1f} MiB{tree}, "
                f"slowest target {slowest:6.0f} ms, wall/slowest {run.wall * 1000 / slowest if slowest else 0:6.1f}"
            )
        if len(runs) > 1:
            smallest, largest = min(runs, key=lambda r: r.size), max(runs, key=lambda r: r.size)

            def peak(run: Run) -> int:  # with --jobs: every process's memory, as the machine sees it
                return run.tree_pss_peak_kb if args.jobs > 1 else run.peak_rss_kb

            growth = peak(largest) / max(1, peak(smallest))
            what = "peak PSS of all processes" if args.jobs > 1 else "peak RSS"
            print(f"  {what} at {largest.size} / at {smallest.size} targets: {growth:.2f}")
            if growth > 1.5:
                problems += 1
                print("  PROBLEM: memory grows with the number of targets")
        print(f"whole script: {time.monotonic() - began:.0f} s; problems: {problems}")
        return 1 if problems else 0
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
