"""The DNS picture of a domain costs a few round trips of wall time, not the sum of its queries.

The lab's NSD (203.0.113.53) sits behind the lab router with a round trip added in user space
(tests/lab/delay.py, default 50 ms). From the client namespace, mailprobe resolves a mail domain completely:
MX, addresses, PTR and forward confirmation, SRV (6 services), SPF with its includes, DMARC, MTA-STS TXT and
the policy over HTTPS from the lab's nginx, TLS-RPT, TLSA, DKIM and a DNS blocklist. Every query's own time
is logged (mailprobe.dns.client.DnsClient.log).

Printed per run and as medians: the wall time of resolve_domain, the sum of the individual query times (what
one-at-a-time resolution would cost), their ratio, and both in round trips (time / rtt). The dependency
chains set the floor, and they run side by side:
    MX -> A/AAAA of each host -> PTR of each address -> A/AAAA of each PTR name     4 round trips
    MTA-STS TXT (+ the policy host's address) -> TCP -> TLS -> HTTP GET               4 round trips with
                                                                                     TLS 1.3, 5 with 1.2
    SPF TXT -> TXT of each include level                                             1 + depth
    everything else (DMARC, TLS-RPT, SRV, DKIM, blocklist)                           1-2 round trips
so the whole picture takes four to five round trips however many queries it sends (the lab's nginx 1.22
negotiates TLS 1.2, its default: five for good.test), and a DNS-only domain (dane-ok.test: no MTA-STS) the
four of the MX chain. "About two round trips" holds per dependency level, not for the whole picture: the MX
chain alone is four levels deep, and none of them can start before the one above answers.

Needs root and the lab packages (tests/lab/install-deps.sh). Exit 1 if the wall time exceeds --max-rtts
round trips (default 6) in the median.

    sudo .venv/bin/python bench/dns_round_trips.py [--rtt-ms 50] [--runs 5] [--domain good.test]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from labnet import Lab, LabUnavailable  # noqa: E402

# Runs in the client namespace: one resolve_domain per run, each with a fresh client (no caching anywhere).
SCRIPT = """
import asyncio, json, sys, time
from mailprobe.config import Config, Limits, Resolver
from mailprobe.dns import resolve_domain
from mailprobe.dns.client import DnsClient

args = json.loads(sys.argv[1])
cfg = Config(resolver=Resolver(args["resolver"]), ca_file=args["ca_file"], allow_nonpublic=True,
             dkim_selectors=("mail2024",), dnsbl_zones=("bl.test",), limits=Limits(connect_timeout=5.0))

async def once(domain):
    client = DnsClient.from_config(cfg)
    started = time.perf_counter()
    d = await resolve_domain(domain, cfg, client=client)
    wall = (time.perf_counter() - started) * 1000
    probe = DnsClient.from_config(cfg)
    t0 = time.perf_counter()
    await probe.query(domain, "SOA")  # one query alone: the measured round trip
    single = (time.perf_counter() - t0) * 1000
    fetched = [r.status for r in d.records if r.kind == "MTA-STS-POLICY"]
    return {"domain": domain, "status": d.status.value, "wall_ms": wall, "single_ms": single,
            "sum_ms": sum(q.elapsed_ms for q in client.log), "queries": len(client.log),
            "slowest_ms": max(q.elapsed_ms for q in client.log), "policy": fetched}

async def main():
    out = []
    for _ in range(args["runs"]):
        for domain in args["domains"]:
            out.append(await once(domain))
    print(json.dumps(out))

asyncio.run(main())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--domain", action="append", help="lab domain(s) (default good.test and dane-ok.test)")
    parser.add_argument("--max-rtts", type=float, default=6.0)
    args = parser.parse_args()
    domains = args.domain or ["good.test", "dane-ok.test"]
    try:
        lab = Lab.up(rtt_ms=args.rtt_ms)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}", file=sys.stderr)
        return 2
    with lab:
        payload = {"resolver": lab.dns4, "ca_file": lab.ca_file, "domains": domains, "runs": args.runs + 1}
        done = lab.run_client([sys.executable, "-c", SCRIPT, json.dumps(payload)], timeout=600)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return 2
        runs = json.loads(done.stdout)[len(domains) :]  # the first round warms caches (ARP, imports, TLS)
    rtt = args.rtt_ms
    print(f"lab round trip {rtt:g} ms (client -> router -> delayed link -> NSD / nginx), {args.runs} runs\n")
    header = f"{'domain':14} {'status':7} {'queries':>7} {'sum ms':>8} {'wall ms':>8} {'ratio':>6}"
    print(header + f" {'sum RTT':>8} {'wall RTT':>8} {'1 query':>8}  MTA-STS policy")
    failed = False
    for domain in domains:
        mine = [r for r in runs if r["domain"] == domain]
        for r in mine:
            print(
                f"{domain:14} {r['status']:7} {r['queries']:>7} {r['sum_ms']:>8.0f} {r['wall_ms']:>8.0f} "
                f"{r['sum_ms'] / r['wall_ms']:>6.1f} {r['sum_ms'] / rtt:>8.1f} {r['wall_ms'] / rtt:>8.2f} "
                f"{r['single_ms']:>8.1f}  {','.join(r['policy']) or '-'}"
            )
        wall = statistics.median(r["wall_ms"] for r in mine)
        total = statistics.median(r["sum_ms"] for r in mine)
        print(
            f"{'median':14} {'':7} {mine[0]['queries']:>7} {total:>8.0f} {wall:>8.0f} {total / wall:>6.1f} "
            f"{total / rtt:>8.1f} {wall / rtt:>8.2f}\n"
        )
        if wall / rtt > args.max_rtts:
            print(f"{domain}: median wall time {wall / rtt:.2f} round trips > {args.max_rtts:g}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
