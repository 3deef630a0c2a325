"""`mailprobe ports -i FILE` beside nmap, whole processes as a user runs them, in the lab at a 50 ms round trip.

Lab addresses behind the router (tests/lab/labnet.py), which adds the round trip in user space
(tests/lab/delay.py); 7 mail ports each:
    587, 465, 110   open    (a listener in the servers namespace on every address)
    995, 143        closed  (nothing listens: the host's RST)
    25              dropped on the router (policy drop-25)
    993             dropped by the hosts' own nftables
and every 8th address drops everything (a host firewall that drops all), so timeouts must adapt.

Scenarios, each run beside its peer in the same script (medians over --runs, tools taking turns going first):
    connect   256 addresses (128 IPv4, 128 IPv6): mailprobe ports -i FILE        vs nmap -sT -T4
    raw       the same with --raw                                                  vs nmap -sS -T4
    ulimit    1,024 addresses (128 IPv4, 896 IPv6) under `ulimit -n 256`, both     vs nmap -sT -T4
mailprobe writes JSONL (--format jsonl --output FILE); nmap runs once per address family, both at once (it
cannot mix families), its wall time is the pair's. Every state is compared with the configuration and with
nmap's (mailprobe's `unreachable` is nmap's `filtered`).

The bound printed for each: round trips x RTT + the time to call a port filtered, i.e. one round trip for an
answered port, and for a silent one a first try of max(100 ms, 2 x RTT) plus one retry twice as long (what
mailprobe.net.timing waits once the round trip is known); under the descriptor limit also the sockets' busy
time divided by the sockets available. The interpreter's start-up (`python -m mailprobe --version`) is
measured and printed beside it: a whole process cannot beat bound + start-up.

Needs root and the lab packages (tests/lab/install-deps.sh). Exit 1 if any state disagrees or an EMFILE shows.

    sudo .venv/bin/python bench/ports_vs_nmap.py [--rtt-ms 50] [--runs 3] [--scenarios connect,raw,ulimit]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bounds import CpuMeter, compile_bytecode, filtered_seconds, mailprobe_command, startup_seconds

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))

PORTS = [25, 587, 465, 110, 995, 143, 993]
OPEN_PORTS = [587, 465, 110]
HOST_DROPPED_PORT = 993
V4 = [str(ipaddress.IPv4Address("203.0.113.100") + i) for i in range(128)]
V6 = [str(ipaddress.IPv6Address("2001:db8:113::1:0") + i) for i in range(896)]
ALL = V4 + V6
SILENT_HOSTS = frozenset(ALL[::8])
SCENARIO_ADDRESSES = {"connect": V4 + V6[:128], "raw": V4 + V6[:128], "ulimit": ALL}
PEER = {"connect": "-sT", "raw": "-sS", "ulimit": "-sT"}
FD_LIMIT = 256

LISTENER = """
import json, resource, selectors, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (16384, 16384))
addresses, ports = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sel = selectors.DefaultSelector()
for address in addresses:
    for port in ports:
        s = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port)); s.listen(512); s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            key.fileobj.accept()[0].close()
        except OSError:
            pass
"""


def host_firewall() -> str:
    silent4 = ", ".join(a for a in SILENT_HOSTS if ":" not in a)
    silent6 = ", ".join(a for a in SILENT_HOSTS if ":" in a)
    return (
        "table inet benchhost {\n"
        "  chain input {\n"
        "    type filter hook input priority filter; policy accept;\n"
        f"    tcp dport {HOST_DROPPED_PORT} drop\n"
        f"    ip daddr {{ {silent4} }} tcp dport 1-65535 drop\n"
        f"    ip6 daddr {{ {silent6} }} tcp dport 1-65535 drop\n"
        "  }\n"
        "}\n"
    )


def expected(address: str, port: int) -> str:
    if address in SILENT_HOSTS or port in (25, HOST_DROPPED_PORT):
        return "filtered"
    return "open" if port in OPEN_PORTS else "closed"


def limited(argv: list[str], fd_limit: int | None) -> list[str]:
    return argv if fd_limit is None else ["bash", "-c", f'ulimit -n {fd_limit} && exec "$@"', "bash", *argv]


@dataclass
class Outcome:
    seconds: float
    states: dict[str, str]
    problems: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # user + system of the mailprobe process (/usr/bin/time)
    elapsed_ms: dict[str, list[float]] = field(default_factory=dict)  # per state, each port's own time
    meter: CpuMeter | None = None

    def breakdown(self) -> str:
        parts = []
        for state, values in sorted(self.elapsed_ms.items()):
            values.sort()
            parts.append(f"{state} {len(values)}: median {values[len(values) // 2]:.0f} ms, max {values[-1]:.0f} ms")
        return "; ".join(parts)


def run_mailprobe(
    lab: Any,
    work: Path,
    addresses: list[str],
    raw: bool,
    fd_limit: int | None,
    tree: Path | None = None,
    jobs: int = 0,
) -> Outcome:
    targets, out = work / "targets.txt", work / "out.jsonl"
    targets.write_text("\n".join(addresses) + "\n")
    out.unlink(missing_ok=True)
    cpu = work / "cpu.txt"
    argv = [*mailprobe_command(tree), "ports", "-i", str(targets), "--format", "jsonl", "--output", str(out)]
    extra = [*(["--raw"] if raw else []), *(["--jobs", str(jobs)] if jobs else [])]  # 0: mailprobe's choice
    timed = ["/usr/bin/time", "-f", "%U %S", "-o", str(cpu), *argv, *extra]
    with CpuMeter(lab) as meter:
        started = time.monotonic()
        done = lab.run_client(limited(timed, fd_limit), timeout=600)
        seconds = time.monotonic() - started
    outcome = Outcome(seconds, {}, meter=meter)
    if cpu.exists():
        outcome.cpu_seconds = sum(float(x) for x in cpu.read_text().split()[-2:])
    if done.returncode != 0:
        outcome.problems.append(f"mailprobe exit {done.returncode}: {done.stderr[-1500:]}")
    if "EMFILE" in done.stderr or "Too many open files" in done.stderr:
        outcome.problems.append("EMFILE in mailprobe's stderr")
    for line in out.read_text().splitlines() if out.exists() else []:
        obj = json.loads(line)
        if obj["type"] == "target":
            for port in obj["ports"]:
                outcome.states[f"{port['address']} {port['port']}"] = port["state"]
                outcome.elapsed_ms.setdefault(port["state"], []).append(port["elapsed_ms"])
                if port["state"] == "error":
                    outcome.problems.append(f"{port['address']}:{port['port']} error: {port['reason']}")
    return outcome


def run_nmap(lab: Any, kind: str, addresses: list[str], fd_limit: int | None) -> Outcome:
    base = ["nmap", kind, "-T4", "-Pn", "-n", "-oX", "-", "-p", ",".join(map(str, PORTS))]
    v4 = [a for a in addresses if ":" not in a]
    v6 = [a for a in addresses if ":" in a]
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        argvs = [limited([*base, *v4], fd_limit), limited([*base, "-6", *v6], fd_limit)]
        runs = list(pool.map(lambda argv: lab.run_client(argv, timeout=600), argvs))
    outcome = Outcome(time.monotonic() - started, {})
    for done in runs:
        if done.returncode != 0:
            outcome.problems.append(f"nmap {kind} exit {done.returncode}: {done.stderr[-1500:]}")
            continue
        for host in ET.fromstring(done.stdout).iter("host"):
            address = host.find("address").get("addr")  # type: ignore[union-attr]
            for port in host.iter("port"):
                state = port.find("state")
                outcome.states[f"{address} {port.get('portid')}"] = state.get("state", "") if state is not None else ""
    return outcome


def disagreements(ours: dict[str, str], theirs: dict[str, str]) -> list[str]:
    mapped = {key: "filtered" if state == "unreachable" else state for key, state in ours.items()}
    keys = sorted(set(mapped) | set(theirs))
    return [f"{k}: mailprobe {mapped.get(k)}, other {theirs.get(k)}" for k in keys if mapped.get(k) != theirs.get(k)]


def processes_used(jobs: int, addresses: list[str], raw: bool) -> int:
    """The processes a `mailprobe ports` run of `addresses` uses: --jobs N, or what it chooses without one."""
    from mailprobe.cli.batch import auto_jobs, usable_cores

    return min(jobs, len(addresses)) if jobs else auto_jobs("ports", len(addresses), usable_cores(), raw=raw)


def bound(scenario: str, addresses: list[str], rtt: float, processes: int = 1) -> tuple[float, str]:
    """Seconds the network allows for the scan, and how that was computed (`processes`: mailprobe --jobs, each
    with its own descriptors under the limit)."""
    silent, how = filtered_seconds(rtt)
    network = rtt + silent
    text = f"1 round trip x {rtt * 1000:.0f} ms + filtered port {silent:.2f} s ({how}) = {network:.2f} s"
    if scenario != "ulimit":
        return network, text
    from mailprobe.net.limits import FD_RESERVE

    sockets = processes * (FD_LIMIT - 8 - FD_RESERVE)  # each: stdin/out/err, the event loop's own, the reserve
    filtered = sum(1 for a in addresses for p in PORTS if expected(a, p) == "filtered")
    answered = len(addresses) * len(PORTS) - filtered
    busy = filtered * silent + answered * rtt
    by_sockets = busy / sockets
    text += (
        f"; descriptors: ({filtered} silent ports x {silent:.2f} s + {answered} answered x {rtt * 1000:.0f} ms) / "
        f"{sockets} sockets{f' ({processes} processes)' if processes > 1 else ''} = {by_sockets:.2f} s"
    )
    return max(network, by_sockets), text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each tool per scenario (medians)")
    parser.add_argument("--scenarios", default="connect,raw,ulimit")
    parser.add_argument(
        "--before", type=Path, metavar="TREE",
        help="also time the mailprobe package found in TREE (e.g. `git archive OLD mailprobe | tar -x -C TREE`)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=int, default=0, help="mailprobe --jobs N for mailprobe's runs (default: none, mailprobe chooses)"
    )
    args = parser.parse_args()
    compile_bytecode(*([REPO, args.before] if args.before is not None else []))
    scenarios = [s for s in args.scenarios.split(",") if s]
    if not set(scenarios) <= set(SCENARIO_ADDRESSES):
        parser.error(f"--scenarios: some of {', '.join(SCENARIO_ADDRESSES)}")
    if not Path("/usr/bin/time").exists():
        parser.error("/usr/bin/time is missing (Debian package `time`)")

    from labnet import Lab, LabUnavailable

    try:
        lab = Lab.up(rtt_ms=args.rtt_ms)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}")
        return 2
    listener = None
    failures = 0
    rtt = args.rtt_ms / 1000
    try:
        lab.add_addresses("servers", ALL)
        lab.set_policy("drop-25")
        subprocess.run(["ip", "netns", "exec", lab.servers_ns, "nft", "-f", "-"], input=host_firewall(),
                       text=True, check=True)  # fmt: skip
        listener = subprocess.Popen(
            ["ip", "netns", "exec", lab.servers_ns, sys.executable, "-c", LISTENER,
             json.dumps(ALL), json.dumps(OPEN_PORTS)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert listener.stdout is not None
        if listener.stdout.readline().strip() != "ready":
            raise SystemExit("listener did not start")
        with tempfile.TemporaryDirectory(prefix="mp-ports-bench-") as tmp:
            work = Path(tmp)
            work.chmod(0o755)
            # Untimed warm-up: the router learns 1,024 neighbours (ARP/NDP over the delayed wire) once; before
            # each scenario again (below), as entries the previous scenarios did not use go stale meanwhile.
            run_mailprobe(lab, work, ALL, False, None)
            start_up = startup_seconds(lab)
            print(f"lab up in {lab.start_seconds:.1f} s; rtt {args.rtt_ms:g} ms; "
                  f"mailprobe start-up (python -m mailprobe --version) {start_up:.2f} s; "
                  f"mailprobe --jobs {args.jobs or 'not given (mailprobe chooses)'}")  # fmt: skip
            summary = []
            for scenario in scenarios:
                addresses = SCENARIO_ADDRESSES[scenario]
                raw = scenario == "raw"
                fd_limit = FD_LIMIT if scenario == "ulimit" else None
                # Untimed: without it the first timed run of the last scenario (1,024 addresses) paid a round
                # trip per answer for neighbour entries gone stale (its ports answered in 99 ms, not 50).
                run_mailprobe(lab, work, addresses, False, None)
                peer = f"nmap {PEER[scenario]} -T4"
                truth = {f"{a} {p}": expected(a, p) for a in addresses for p in PORTS}
                runners: dict[str, Callable[[], Outcome]] = {
                    "mailprobe": lambda a=addresses, r=raw, f=fd_limit: run_mailprobe(
                        lab, work, a, r, f, jobs=args.jobs
                    ),
                    peer: lambda a=addresses, s=scenario, f=fd_limit: run_nmap(lab, PEER[s], a, f),
                }
                if args.before is not None:
                    runners["mailprobe before"] = lambda a=addresses, r=raw, f=fd_limit: run_mailprobe(
                        lab, work, a, r, f, args.before
                    )
                times: dict[str, list[float]] = {name: [] for name in runners}
                cpu: dict[str, list[float]] = {name: [] for name in runners if name.startswith("mailprobe")}
                print(f"{scenario}: {len(addresses)} addresses x {len(PORTS)} ports"
                      + (f", ulimit -n {fd_limit}" if fd_limit else "") + (", --raw" if raw else ""))  # fmt: skip
                for run in range(args.runs):
                    turn = run % len(runners)
                    order = list(runners)[turn:] + list(runners)[:turn]
                    results = {name: runners[name]() for name in order}
                    for name, outcome in results.items():
                        times[name].append(outcome.seconds)
                        own = ""
                        if name in cpu:  # its own CPU (user + system): what machine noise affects least
                            cpu[name].append(outcome.cpu_seconds)
                            own = f"  cpu {outcome.cpu_seconds:4.2f} s"
                        wrong = disagreements(outcome.states, truth)
                        failures += len(wrong) + (len(outcome.problems) if name == "mailprobe" else 0)
                        print(f"  run {run + 1} {name:14s} {outcome.seconds:6.2f} s{own}  states as configured "
                              f"{len(truth) - len(wrong)}/{len(truth)}")  # fmt: skip
                        if name == "mailprobe":
                            print(f"      ports' own times: {outcome.breakdown()}")
                            if outcome.meter is not None:
                                print(f"      while it ran: {outcome.meter.describe(outcome.cpu_seconds)}")
                        for line in [*wrong[:5], *outcome.problems[:5]]:
                            print(f"      {line}")
                    versus = disagreements(results["mailprobe"].states, results[peer].states)
                    failures += len(versus)
                    print(f"        mailprobe and {peer} agree on {len(truth) - len(versus)}/{len(truth)}")
                ours, theirs = statistics.median(times["mailprobe"]), statistics.median(times[peer])
                limit, how = bound(scenario, addresses, rtt, processes_used(args.jobs, addresses, raw))
                print(f"  bound: {how}")
                line = (
                    f"{scenario:8s} mailprobe {ours:5.2f} s (cpu {statistics.median(cpu['mailprobe']):4.2f} s)  "
                    f"{peer} {theirs:6.2f} s  ratio {ours / theirs:4.2f}  "
                    f"bound {limit:4.2f} s  mailprobe/bound {ours / limit:4.1f}  (start-up {start_up:.2f} s)"
                )
                if args.before is not None:
                    before = statistics.median(times["mailprobe before"])
                    line += f"  before: {before:5.2f} s (cpu {statistics.median(cpu['mailprobe before']):4.2f} s)"
                print(f"  median: {line}")
                summary.append(line)
            print("summary (medians of whole-process wall times):")
            for line in summary:
                print(f"  {line}")
        return 1 if failures else 0
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(timeout=10)
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
