"""The DNS picture of a domain costs its dependency depth in round trips, not the sum of its queries.

The lab's NSD (203.0.113.53) sits behind the lab router with a round trip added in user space
(tests/lab/delay.py, default 50 ms). From the client namespace, mailprobe resolves a mail domain completely:
MX, addresses, PTR and forward confirmation, SRV (6 services), SPF with its includes, DMARC, MTA-STS TXT and
the policy over HTTPS from the lab's nginx, TLS-RPT, TLSA, DKIM and a DNS blocklist. Every query's send time
and duration are logged (mailprobe.dns.client.DnsClient.log).

Printed per run and as medians: the sum of the individual query times (what one-at-a-time resolution would
cost), the wall time of the DNS queries (first sent to last answered), the number of waves the queries went
out in (a wave starts when a query is sent more than half a round trip after the one before: the dependency
levels actually waited for), and the wall time of the whole resolve_domain including the MTA-STS policy fetch
over HTTPS. Times are also given in round trips (time / rtt).

Which levels a domain needs (each level waits for the one above; everything independent shares a level):
    1  MX, the domain's own A/AAAA, SPF, DMARC, MTA-STS TXT + policy host, TLS-RPT, SRV, DKIM
    2  A/AAAA of each MX host, its TLSA (prefetched), SPF includes; PTR and blocklist of every address the MX
       answer volunteered in its additional section (prefetched, kept only if the A/AAAA answer confirms)
    3  PTR and blocklist of addresses that were not volunteered
    4  A/AAAA of a PTR name other than the MX host (forward-confirmed reverse DNS)
So: lab.test (MX in its own zone, PTR names the MX host) 2; dane-ok.test (MX in its own zone, PTR names
another host) 3; good.test (MX in another zone, no additional data; PTR names the MX host) 3. The MTA-STS
policy fetch is DNS + TCP + TLS 1.3 + HTTP: 4 round trips, however it is scheduled.

Needs root and the lab packages (tests/lab/install-deps.sh). Exit 1 if the DNS wall time exceeds its waves
by more than half a round trip in the median (time lost waiting for nothing).

    sudo .venv/bin/python bench/dns_round_trips.py [--rtt-ms 50] [--runs 5] [--domain lab.test]
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
    # DNS alone: from the first query sent to the last answer (the MTA-STS HTTPS fetch can end later).
    sent = sorted(q.started for q in client.log)
    dns_span = max(q.started + q.elapsed_ms / 1000 for q in client.log) - sent[0]
    waves = 1 + sum(1 for a, b in zip(sent, sent[1:]) if (b - a) * 1000 > single / 2)
    return {"domain": domain, "status": d.status.value, "wall_ms": wall, "dns_ms": dns_span * 1000, "waves": waves,
            "single_ms": single,
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
    parser.add_argument("--domain", action="append", help="lab domain(s) (default lab.test, good.test, dane-ok.test)")
    args = parser.parse_args()
    domains = args.domain or ["lab.test", "good.test", "dane-ok.test"]
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
    columns = ("domain", "status", "queries", "sum ms", "sum RTT", "DNS ms", "DNS RTT", "waves", "ratio",
               "all ms", "all RTT", "1 query", "MTA-STS")  # fmt: skip
    print("{:14} {:7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>6} {:>7} {:>7} {:>7}  {}".format(*columns))
    failed = False
    for domain in domains:
        mine = [r for r in runs if r["domain"] == domain]
        for r in mine:
            print(_row(domain, r, rtt))
        median = {key: statistics.median(r[key] for r in mine) for key in ("sum_ms", "dns_ms", "wall_ms", "waves")}
        print(_row("median", {**mine[0], **median, "status": "", "single_ms": None, "policy": []}, rtt) + "\n")
        if median["dns_ms"] / rtt > median["waves"] + 0.5:
            print(f"{domain}: DNS took {median['dns_ms'] / rtt:.2f} round trips for {median['waves']:g} waves",
                  file=sys.stderr)  # fmt: skip
            failed = True
    return 1 if failed else 0


def _row(label: str, r: dict[str, object], rtt: float) -> str:
    total, dns, wall = float(r["sum_ms"]), float(r["dns_ms"]), float(r["wall_ms"])  # type: ignore[arg-type]
    single = "" if r["single_ms"] is None else f"{float(r['single_ms']):.1f}"  # type: ignore[arg-type]
    return (
        f"{label:14} {r['status']:7} {r['queries']:>7} {total:>7.0f} {total / rtt:>7.1f} {dns:>7.0f} "
        f"{dns / rtt:>7.2f} {r['waves']:>5} {total / dns:>6.1f} {wall:>7.0f} {wall / rtt:>7.2f} {single:>7}  "
        f"{','.join(r['policy']) or '-'}"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    sys.exit(main())
