"""mailprobe's connect scan beside `nmap -sT -T4` and `nmap -sS -T4`: same lab, same targets, same run.

256 lab addresses (128 IPv4, 128 IPv6) behind the lab router with a 50 ms round trip added in user space
(tests/lab/delay.py), 7 mail ports each:
    587, 465, 110   open    (a listener in the servers namespace on every address)
    995, 143        closed  (nothing listens: the host's RST)
    25              dropped on the router (policy drop-25)
    993             dropped by the hosts' own nftables
and every 8th address drops everything (a host firewall that drops all), so timeouts must adapt.

Prints each tool's wall time (whole process: interpreter start and imports included for mailprobe),
the ratios, and the per-port state agreement (mailprobe's `unreachable` is nmap's `filtered`).
Needs root and the lab packages (tests/lab/install-deps.sh). Exit 1 if any state disagrees.

    sudo .venv/bin/python bench/ports_vs_nmap.py [--rtt-ms 50] [--runs 1]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))

PORTS = [25, 587, 465, 110, 995, 143, 993]
OPEN_PORTS = [587, 465, 110]
HOST_DROPPED_PORT = 993
V4 = [str(ipaddress.IPv4Address("203.0.113.100") + i) for i in range(128)]
V6 = [str(ipaddress.IPv6Address("2001:db8:113::1:0") + i) for i in range(128)]
SILENT_HOSTS = (V4 + V6)[::8]

LISTENER = """
import selectors, socket, sys, json
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

SCAN = """
import asyncio, json, sys
from mailprobe.config import Config
from mailprobe.probes.ports import scan_all
targets = [(a, a) for a in json.loads(sys.argv[1])]
results = asyncio.run(scan_all(targets, json.loads(sys.argv[2]), Config()))
print(json.dumps({f"{r.address} {r.port}": r.state.value for r in results}))
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


def timed(lab: Any, argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = lab.run_client(argv, timeout=600)
    return time.monotonic() - started, done


def run_mailprobe(lab: Any) -> tuple[float, dict[str, str]]:
    seconds, done = timed(lab, [sys.executable, "-c", SCAN, json.dumps(V4 + V6), json.dumps(PORTS)])
    if done.returncode != 0:
        raise SystemExit(f"mailprobe scan failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def run_nmap(lab: Any, kind: str) -> tuple[float, dict[str, str]]:
    """One nmap per address family, both at once (nmap cannot mix families); wall time of the pair."""
    base = ["nmap", kind, "-T4", "-Pn", "-n", "-oX", "-", "-p", ",".join(map(str, PORTS))]
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda argv: lab.run_client(argv, timeout=600), [[*base, *V4], [*base, "-6", *V6]]))
    seconds = time.monotonic() - started
    states: dict[str, str] = {}
    for done in runs:
        if done.returncode != 0:
            raise SystemExit(f"nmap {kind} failed: {done.stderr[-2000:]}")
        for host in ET.fromstring(done.stdout).iter("host"):
            address = host.find("address").get("addr")  # type: ignore[union-attr]
            for port in host.iter("port"):
                state = port.find("state")
                states[f"{address} {port.get('portid')}"] = state.get("state", "") if state is not None else ""
    return seconds, states


def expected(address: str, port: int) -> str:
    if address in SILENT_HOSTS or port in (25, HOST_DROPPED_PORT):
        return "filtered"
    return "open" if port in OPEN_PORTS else "closed"


def agreement(ours: dict[str, str], theirs: dict[str, str]) -> tuple[int, list[str]]:
    mapped = {key: "filtered" if state == "unreachable" else state for key, state in ours.items()}
    keys = sorted(set(mapped) | set(theirs))
    differ = [f"{k}: mailprobe {mapped.get(k)} nmap {theirs.get(k)}" for k in keys if mapped.get(k) != theirs.get(k)]
    return len(keys) - len(differ), differ


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=1, help="repeat and report medians")
    args = parser.parse_args()

    from labnet import Lab, LabUnavailable

    try:
        lab = Lab.up(rtt_ms=args.rtt_ms)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}")
        return 2
    listener = None
    try:
        lab.add_addresses("servers", V4 + V6)
        lab.set_policy("drop-25")
        subprocess.run(["ip", "netns", "exec", lab.servers_ns, "nft", "-f", "-"], input=host_firewall(),
                       text=True, check=True)  # fmt: skip
        listener = subprocess.Popen(
            ["ip", "netns", "exec", lab.servers_ns, sys.executable, "-c", LISTENER,
             json.dumps(V4 + V6), json.dumps(OPEN_PORTS)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert listener.stdout is not None
        if listener.stdout.readline().strip() != "ready":
            raise SystemExit("listener did not start")
        # Untimed warm-up: the router resolves 256 new neighbours (ARP/NDP over the delayed wire) once,
        # so no tool pays for it in its wall time.
        warm = lab.run_client(
            [sys.executable, "-c", SCAN, json.dumps(V4 + V6), json.dumps(OPEN_PORTS[:1])], timeout=600
        )
        if warm.returncode != 0:
            raise SystemExit(f"warm-up failed: {warm.stderr[-2000:]}")
        truth = {f"{a} {p}": expected(a, p) for a in V4 + V6 for p in PORTS}
        times: dict[str, list[float]] = {"mailprobe": [], "nmap -sT -T4": [], "nmap -sS -T4": []}
        failures = 0
        for run in range(args.runs):
            runners = {
                "mailprobe": lambda: run_mailprobe(lab),
                "nmap -sT -T4": lambda: run_nmap(lab, "-sT"),
                "nmap -sS -T4": lambda: run_nmap(lab, "-sS"),
            }
            order = list(runners)[run % 3 :] + list(runners)[: run % 3]  # nobody always goes first
            done = {name: runners[name]() for name in order}
            results = {name: done[name] for name in runners}
            print(
                f"run {run + 1}: {len(V4)} IPv4 + {len(V6)} IPv6 addresses x {len(PORTS)} ports, rtt {args.rtt_ms:g} ms"
            )
            for name, (seconds, states) in results.items():
                times[name].append(seconds)
                right, wrong = agreement(states, truth)
                failures += len(wrong)
                print(f"  {name:14s} {seconds:7.2f} s   states as configured: {right}/{len(truth)}")
                for line in wrong[:10]:
                    print(f"    {line}")
            ours = results["mailprobe"][1]
            for name in ("nmap -sT -T4", "nmap -sS -T4"):
                same, wrong = agreement(ours, results[name][1])
                failures += len(wrong)
                print(f"  agreement mailprobe vs {name}: {same}/{len(truth)}")
        ours_s = statistics.median(times["mailprobe"])
        print("summary (median wall time):")
        for name in ("nmap -sT -T4", "nmap -sS -T4"):
            theirs = statistics.median(times[name])
            print(f"  mailprobe {ours_s:.2f} s vs {name} {theirs:.2f} s: ratio {ours_s / theirs:.2f}")
        return 1 if failures else 0
    finally:
        if listener is not None:
            listener.terminate()
            listener.wait(timeout=10)
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
