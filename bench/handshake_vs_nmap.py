"""`mailprobe handshake -i FILE` beside nmap's capability and certificate scripts: same lab, same targets, same run.

The lab's one Postfix/Dovecot host (mx1, 203.0.113.25) behind the lab router, which adds a round trip in user
space (tests/lab/delay.py, default 50 ms). Postfix and Dovecot bind their own addresses only, so the 63 more
hosts of the 64-host run are addresses the router rewrites to 203.0.113.25 (nftables DNAT in the router's
namespace): 203.0.113.101 .. 203.0.113.163. Every host offers the same seven services:
    SMTP 25 and submission 587 (STARTTLS), submissions 465 (implicit TLS),
    POP3 110 (STLS), POP3S 995, IMAP 143 (STARTTLS), IMAPS 993.
Some are filtered: the router drops port 25 (policy drop-25), and every 8th extra host drops everything
(a filter before the DNAT), so mailprobe must call those ports silent without waiting out its --timeout.

Compared, each as one process in the client namespace (wall time includes interpreter start and imports):
    mailprobe handshake -i HOSTS.txt --json --timeout T --ca-file LAB_CA --resolver LAB_DNS
    nmap -sT -Pn -n -p25,587,465,110,995,143,993
         --script smtp-commands,pop3-capabilities,imap-capabilities,ssl-cert -oX - HOST...
A warm-up run of each tool comes first (neighbour caches, page cache), then `--runs` timed runs each
(`--nmap-runs` for nmap on the many hosts, which takes over a minute); the medians are compared. On the many
hosts one more nmap run explains its time: without ssl-cert (nselib/sslcert.lua fetches every certificate
under one global mutex, so nmap's certificates come one at a time).

The bound printed: the round trips of one handshake x RTT (the most mailprobe counted in a session) + the
time to call a port filtered (bench/bounds.py); the server's own waits (Postfix answers ~2 RTT late after
TLS 1.3, see the table) come on top, so the slowest session of the 1-host run is printed beside it.

Printed also: what each reported (capabilities seen before and after TLS, certificates, what only mailprobe
reports); and per service the round trips mailprobe counted against the protocol minimum (SMTP STARTTLS:
connect, greeting, EHLO, STARTTLS, TLS, EHLO = 6; POP3/IMAP STARTTLS: connect, greeting, CAPA, STLS, TLS,
CAPA = 6; implicit TLS: connect, TLS, greeting, capabilities = 4), the extra checks listed apart (VRFY and
EXPN on 25/587, MAIL before TLS on 587), and the session time in round trips (elapsed_ms / rtt).

Needs root and the lab packages (tests/lab/install-deps.sh). Exit 1 if a mailprobe session on an open port
failed, a filtered one was not called so, or a count is above the minimum plus the listed extras.

    sudo .venv/bin/python bench/handshake_vs_nmap.py [--rtt-ms 50] [--runs 3] [--hosts 64] [--reuse-login-processes]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from bounds import CpuMeter, compile_bytecode, filtered_seconds, startup_seconds

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))

MAIL_HOST = "203.0.113.25"
ALIAS_BASE = ipaddress.IPv4Address("203.0.113.101")  # .101-.163: outside the lab's own .25/.26/.53/.80
PORTS = [25, 587, 465, 110, 995, 143, 993]
SERVICE_OF = {25: "smtp", 587: "submission", 465: "submissions", 110: "pop3", 995: "pop3s", 143: "imap", 993: "imaps"}
IMPLICIT = {465, 995, 993}
MINIMUM = {port: 4 if port in IMPLICIT else 6 for port in PORTS}
EXTRAS = {25: ["VRFY", "EXPN"], 587: ["VRFY", "EXPN", "MAIL before TLS"]}
NMAP_SCRIPTS = "smtp-commands,pop3-capabilities,imap-capabilities,ssl-cert"


def aliases(count: int) -> list[str]:
    return [str(ALIAS_BASE + i) for i in range(count)]


def silent_hosts(extra: list[str]) -> list[str]:
    """Every 8th extra host drops everything."""
    return extra[7::8]


def router_rules(extra: list[str]) -> str:
    """The router rewrites every extra address to the mail host (conntrack translates the replies back); the
    silent hosts are dropped before that, in a filter chain ahead of the DNAT."""
    if not extra:
        return ""
    silent = silent_hosts(extra)
    drop = (
        "  chain silent {\n    type filter hook prerouting priority -150; policy accept;\n"
        f"    ip daddr {{ {', '.join(silent)} }} drop\n  }}\n"
        if silent
        else ""
    )
    return (
        "table ip mpbench {\n" + drop + "  chain prerouting {\n"
        "    type nat hook prerouting priority dstnat; policy accept;\n"
        f"    ip daddr {{ {', '.join(extra)} }} dnat to {MAIL_HOST}\n"
        "  }\n"
        "}\n"
    )


def filtered(address: str, port: int, silent: set[str]) -> bool:
    return port == 25 or address in silent


def timed(lab: Any, argv: list[str], timeout: float = 300) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = lab.run_client(argv, timeout=timeout)
    return time.monotonic() - started, done


def mailprobe_argv(lab: Any, hosts_file: Path, timeout: float, jobs: int = 0) -> list[str]:
    return [
        "/usr/bin/time",
        "-f",
        "%U %S",
        "-o",
        str(hosts_file.with_suffix(".cpu")),
        sys.executable,
        "-m",
        "mailprobe",
        "handshake",
        "-i",
        str(hosts_file),
        "--json",
        "--timeout",
        f"{timeout:g}",
        "--ca-file",
        lab.ca_file,
        "--resolver",
        lab.dns4,
        *(["--jobs", str(jobs)] if jobs else []),  # 0: mailprobe's choice
    ]


def nmap_argv(hosts: list[str], scripts: str = NMAP_SCRIPTS) -> list[str]:
    return ["nmap", "-sT", "-Pn", "-n", "-p", ",".join(map(str, PORTS)), "--script", scripts, "-oX", "-", *hosts]


def run_mailprobe(
    lab: Any, hosts: list[str], timeout: float, work: Path, jobs: int = 0
) -> tuple[float, dict[str, Any], CpuMeter]:
    """Wall seconds, the JSON report, and where the machine's CPU went (mailprobe's own in meter.tool)."""
    hosts_file = work / f"hosts-{len(hosts)}.txt"
    hosts_file.write_text("\n".join(hosts) + "\n")
    with CpuMeter(lab) as meter:
        seconds, done = timed(lab, mailprobe_argv(lab, hosts_file, timeout, jobs))
    if done.returncode not in (0, 1):  # 1: findings (an address never matches the certificate's name)
        raise SystemExit(f"mailprobe handshake failed ({done.returncode}): {done.stderr[-2000:]}")
    meter.tool = sum(float(x) for x in hosts_file.with_suffix(".cpu").read_text().split()[-2:])
    return seconds, json.loads(done.stdout), meter


def run_nmap(lab: Any, hosts: list[str]) -> tuple[float, ET.Element]:
    seconds, done = timed(lab, nmap_argv(hosts), timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"nmap failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, ET.fromstring(done.stdout)


# ---- what each tool reported --------------------------------------------------------------------------------------


def _norm(token: str) -> str:
    return " ".join(token.upper().split())


def mailprobe_sessions(report: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(h["target"]["address"], h["target"]["port"]): h for h in report["handshakes"]}


def step_times(session: dict[str, Any]) -> tuple[float, float]:
    """(connect ms, ms from the TLS handshake's end to the next server reply) from the session's transcript."""
    connect = after_tls = 0.0
    tls_at = None
    for entry in session.get("transcript") or []:
        if entry["direction"] == "NOTE" and entry["note"].startswith("connected") and not connect:
            connect = entry["at_ms"]
        elif entry["direction"] == "TLS":
            tls_at = entry["at_ms"]
        elif entry["direction"] == "S" and tls_at is not None:
            after_tls, tls_at = entry["at_ms"] - tls_at, None
    return connect, after_tls


def mailprobe_caps(session: dict[str, Any]) -> tuple[set[str], set[str]]:
    before = {_norm(c["raw"] or c["keyword"]) for c in session["capabilities_before"]}
    after = {_norm(c["raw"] or c["keyword"]) for c in session["capabilities_after"]}
    return before, after


def nmap_ports(root: ET.Element) -> dict[tuple[str, int], dict[str, str]]:
    """(address, port) -> {"state": ..., script id: output}."""
    found: dict[tuple[str, int], dict[str, str]] = {}
    for host in root.iter("host"):
        address_el = host.find("address")
        address = address_el.get("addr", "") if address_el is not None else ""
        for port in host.iter("port"):
            state = port.find("state")
            entry = {"state": state.get("state", "") if state is not None else ""}
            for script in port.iter("script"):
                entry[script.get("id", "")] = script.get("output", "")
            found[(address, int(port.get("portid", "0")))] = entry
    return found


def nmap_caps(port: int, entry: dict[str, str]) -> list[str]:
    """The capability tokens an nmap script printed for one port, as nmap printed them."""
    if port in (25, 587, 465):
        items = [i.strip() for i in entry.get("smtp-commands", "").split(",") if i.strip()]
        return items[1:]  # the first item is the server's name from the EHLO reply
    if port in (110, 995):
        # "SASL(PLAIN LOGIN)" is one capability: SASL with its mechanisms.
        return [
            t.replace("(", " ").replace(")", "")
            for t in re.findall(r"\S+\([^)]*\)|\S+", entry.get("pop3-capabilities", ""))
        ]
    if port in (143, 993):
        return entry.get("imap-capabilities", "").split()
    return []


# ---- reporting ----------------------------------------------------------------------------------------------------


def compare(
    hosts: list[str], report: dict[str, Any], root: ET.Element, rtt_ms: float, verbose: bool, silent: set[str]
) -> int:
    """Print what each reported for `hosts`; return the number of problems (failed sessions, excess round trips,
    filtered ports not called so)."""
    ours, theirs = mailprobe_sessions(report), nmap_ports(root)
    problems = 0
    quiet = [(h, p) for h in hosts for p in PORTS if filtered(h, p, silent)]
    wrong = [
        f"{h}:{p} mailprobe {ours.get((h, p), {}).get('status')}, nmap {theirs.get((h, p), {}).get('state')}"
        for h, p in quiet
        if ours.get((h, p), {}).get("status") != "connect-timeout" or theirs.get((h, p), {}).get("state") != "filtered"
    ]
    if quiet:
        waits = sorted(ours[key]["elapsed_ms"] for key in quiet if key in ours)
        print(
            f"  filtered ports: {len(quiet)}; called connect-timeout by mailprobe and filtered by nmap: "
            f"{len(quiet) - len(wrong)}; mailprobe's wait on them median {waits[len(waits) // 2]:.0f} ms, "
            f"max {waits[-1]:.0f} ms"
        )
    for line in wrong[:10]:
        print(f"  PROBLEM {line}")
    problems += len(wrong)
    rows = []
    per_service: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    totals: defaultdict[str, int] = defaultdict(int)
    for port in PORTS:
        for host in hosts:
            if filtered(host, port, silent):
                continue
            session, entry = ours.get((host, port)), theirs.get((host, port), {})
            if session is None or session["status"] != "success":
                problems += 1
                why = "missing" if session is None else f"{session['status']}: {session['reason']}"
                print(f"  mailprobe {host}:{port} {why}")
                continue
            before, after = mailprobe_caps(session)
            chain = (session.get("tls") or {}).get("chain") or []
            caps_nmap = nmap_caps(port, entry)
            real = before | after
            confirmed = [t for t in caps_nmap if _norm(t) in real]
            stats = per_service[port]
            stats["before"].append(len(before))
            stats["after"].append(len(after))
            stats["certs"].append(len(chain))
            stats["nmap_tokens"].append(len(caps_nmap))
            stats["nmap_real"].append(len(confirmed))
            nmap_cert = 1 if "ssl-cert" in entry and "Subject:" in entry["ssl-cert"] else 0
            stats["nmap_certs"].append(nmap_cert)
            stats["rt"].append(session["round_trips"])
            stats["elapsed"].append(session["elapsed_ms"])
            connect_ms, after_tls_ms = step_times(session)
            stats["connect"].append(connect_ms)
            stats["after_tls"].append(after_tls_ms)
            totals["mailprobe caps"] += len(before) + len(after)
            totals["mailprobe certs"] += len(chain)
            totals["mailprobe tls sessions"] += 1 if session.get("tls") else 0
            totals["nmap tokens"] += len(caps_nmap)
            totals["nmap caps"] += len(confirmed)
            totals["nmap certs"] += nmap_cert
            totals["nmap open"] += entry.get("state") == "open"
            expected = MINIMUM[port] + len(EXTRAS.get(port, []))
            if session["round_trips"] > expected:
                problems += 1
                print(f"  {host}:{port}: {session['round_trips']} round trips counted, expected {expected}")
            if verbose and host == hosts[0]:
                bogus = [t for t in caps_nmap if _norm(t) not in real]
                missed = sorted(real - {_norm(t) for t in caps_nmap})
                rows.append(
                    f"    {port:>3} {SERVICE_OF[port]:<11} nmap tokens not advertised: {bogus or '-'}; "
                    f"advertised, not in nmap's output: {missed or '-'}"
                )
    sessions = len(hosts) * len(PORTS) - len(quiet)
    slowest = max((h["elapsed_ms"] for h in report["handshakes"] if h["status"] == "success"), default=0.0)
    print(
        f"  mailprobe's own clock: slowest successful session {slowest:.0f} ms, slowest host "
        f"{report['elapsed_ms']:.0f} ms (each host timed from its own start)"
    )
    print(f"  what each reported ({len(hosts)} host(s) x 7 services less the filtered = {sessions} sessions):")
    print(
        f"    mailprobe: {totals['mailprobe caps']} capabilities (before and after TLS, per session), "
        f"{totals['mailprobe certs']} certificates in {totals['mailprobe tls sessions']} TLS sessions, "
        f"{len(report['findings'])} findings: "
        + ", ".join(f"{f['code']} ({f['severity']}, {len(f['places'])} places)" for f in report["findings"])
    )
    print(
        f"    nmap:      {totals['nmap open']} open ports, {totals['nmap tokens']} capability tokens of which "
        f"{totals['nmap caps']} are capabilities the server advertises, {totals['nmap certs']} certificates"
    )
    print(
        "    only mailprobe: capabilities on both sides of STARTTLS, TLS version and cipher, chain trust with "
        "--ca-file, host-name match, VRFY/EXPN, MAIL before TLS on 587, findings"
    )
    if rows:
        print(f"  where the capability lists differ ({hosts[0]}):")
        print("\n".join(rows))
    print(
        f"  per service (median over hosts): round trips mailprobe counted vs the protocol minimum, the session's "
        f"time in round trips (elapsed_ms / {rtt_ms:g} ms), the connect, and the wait for the first reply after TLS"
    )
    print(
        f"    {'port':>4} {'service':<11} {'caps before/after':>17} {'certs':>5} {'nmap caps/tokens':>16} "
        f"{'nmap cert':>9} {'counted':>7} {'min':>3} {'extra checks':<26} {'elapsed ms':>10} {'in RTTs':>7} "
        f"{'connect':>7} {'after TLS':>9}"
    )
    for port in PORTS:
        if port not in per_service:
            continue
        stats = per_service[port]
        med = {key: statistics.median(values) for key, values in stats.items()}
        extra = EXTRAS.get(port, [])
        counted = (
            f"{min(stats['rt'])}" if min(stats["rt"]) == max(stats["rt"]) else f"{min(stats['rt'])}-{max(stats['rt'])}"
        )
        print(
            f"    {port:>4} {SERVICE_OF[port]:<11} {med['before']:>8g}/{med['after']:<8g} {med['certs']:>5g} "
            f"{med['nmap_real']:>7g}/{med['nmap_tokens']:<8g} {med['nmap_certs']:>9g} {counted:>7} "
            f"{MINIMUM[port]:>3} {('+' + str(len(extra)) + ' ' + ', '.join(extra)) if extra else '-':<26} "
            f"{med['elapsed']:>10.0f} {med['elapsed'] / rtt_ms:>7.1f} {med['connect']:>7.0f} "
            f"{med['after_tls']:>9.0f}"
        )
    slow = [
        f"{port} ({statistics.median(per_service[port]['after_tls']) / rtt_ms:.1f} RTT)"
        for port in PORTS
        if port in per_service and statistics.median(per_service[port]["after_tls"]) > 1.5 * rtt_ms
    ]
    if slow:
        print(
            f"  note: the first server reply after the TLS handshake took more than one round trip on "
            f"{', '.join(slow)}; mailprobe sent its command at once (see the transcript), the server answered late"
        )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs of each 1-host run and of mailprobe on many hosts"
    )
    parser.add_argument("--nmap-runs", type=int, default=1, help="timed runs of nmap on many hosts (~90 s each at 50)")
    parser.add_argument("--hosts", type=int, default=64, help="hosts in the large run (1..150)")
    parser.add_argument("--timeout", type=float, default=5.0, help="mailprobe --timeout (the ceiling for connects)")
    parser.add_argument("--jobs", type=int, default=0, help="mailprobe --jobs N (default: none, mailprobe chooses)")
    parser.add_argument(
        "--reuse-login-processes", action="store_true",
        help="Dovecot in its high-performance mode (login processes serve many connections) instead of its "
        "default, a fork and exec per connection: shows what limits the run when the servers are not CPU-bound",
    )  # fmt: skip
    args = parser.parse_args()
    compile_bytecode()
    if not 1 <= args.hosts <= 150:
        parser.error("--hosts must be 1..150")
    if not Path("/usr/bin/time").exists():
        parser.error("/usr/bin/time is missing (Debian package `time`)")

    from labnet import Lab, LabUnavailable

    began = time.monotonic()
    try:
        lab = Lab.up(rtt_ms=args.rtt_ms, reuse_login_processes=args.reuse_login_processes)
    except LabUnavailable as exc:
        print(f"lab unavailable: {exc}")
        return 2
    rtt = args.rtt_ms / 1000
    mode = "reused (high-performance mode)" if args.reuse_login_processes else "one per connection (its default)"
    print(f"Dovecot login processes: {mode}; mailprobe --jobs {args.jobs or 'not given (mailprobe chooses)'}")
    try:
        extra = aliases(args.hosts - 1)
        silent = set(silent_hosts(extra))
        if extra:
            subprocess.run(
                ["ip", "netns", "exec", lab.router_ns, "nft", "-f", "-"], input=router_rules(extra), text=True,
                check=True,
            )  # fmt: skip
        lab.set_policy("drop-25")
        with tempfile.TemporaryDirectory(prefix="mp-handshake-bench-") as tmp:
            work = Path(tmp)
            work.chmod(0o755)
            # Warm-up: neighbour entries on both links, conntrack, page cache for the interpreter and nmap's scripts.
            run_mailprobe(lab, [MAIL_HOST, *extra], args.timeout, work, args.jobs)
            run_nmap(lab, [MAIL_HOST])
            start_up = startup_seconds(lab)
            print(
                f"lab up in {lab.start_seconds:.1f} s; rtt {args.rtt_ms:g} ms; mailprobe start-up "
                f"(python -m mailprobe --version) {start_up:.2f} s; filtered: port 25 everywhere (router drop-25), "
                f"every port of {len(silent)} silent hosts"
            )
            problems = 0
            summary = []
            most_round_trips = 0
            slowest_alone = 0.0
            for hosts, nmap_runs in (([MAIL_HOST], args.runs), ([MAIL_HOST, *extra], args.nmap_runs)):
                label = f"{len(hosts)} host{'s' if len(hosts) > 1 else ''}"
                ours_t: list[float] = []
                meters: list[CpuMeter] = []
                theirs_t: list[float] = []
                report: dict[str, Any] = {}
                root: ET.Element | None = None
                for run in range(max(args.runs, nmap_runs)):
                    if run < args.runs:
                        seconds, report, meter = run_mailprobe(lab, hosts, args.timeout, work, args.jobs)
                        ours_t.append(seconds)
                        meters.append(meter)
                    if run < nmap_runs:
                        seconds, root = run_nmap(lab, hosts)
                        theirs_t.append(seconds)
                assert root is not None
                ours_s, theirs_s = statistics.median(ours_t), statistics.median(theirs_t)
                good = [h for h in report["handshakes"] if h["status"] == "success"]
                most_round_trips = max([most_round_trips, *(h["round_trips"] for h in good)])
                if len(hosts) == 1:
                    slowest_alone = max((h["elapsed_ms"] for h in good), default=0.0) / 1000
                silent_s, how = filtered_seconds(rtt)
                limit = most_round_trips * rtt + silent_s
                print(f"{label} x 7 services:")
                print(f"  mailprobe handshake {ours_s:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in ours_t)})")
                middle = sorted(meters, key=lambda m: m.machine)[len(meters) // 2]
                print(f"    while it ran (median run by CPU): {middle.describe(middle.tool)}")
                print(f"  nmap scripts        {theirs_s:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in theirs_t)})")
                print(f"  ratio mailprobe/nmap {ours_s / theirs_s:.3f} (nmap/mailprobe {theirs_s / ours_s:.1f}x)")
                print(
                    f"  bound: {most_round_trips} round trips x {args.rtt_ms:g} ms + filtered port {silent_s:.2f} s "
                    f"({how}) = {limit:.2f} s; mailprobe/bound {ours_s / limit:.1f}; the slowest session alone took "
                    f"{slowest_alone:.2f} s (the servers' own waits included)"
                )
                line = (
                    f"  {label:>9}: mailprobe {ours_s:.2f} s, nmap {theirs_s:.2f} s, ratio {ours_s / theirs_s:.3f}, "
                    f"bound {limit:.2f} s, mailprobe/bound {ours_s / limit:.1f}"
                )
                if len(hosts) > 1:
                    # nmap's sslcert library fetches every certificate under one global mutex
                    # ("sslcert-cache-mutex" in nselib/sslcert.lua): its certificates are fetched one at a time.
                    bare = ",".join(s for s in NMAP_SCRIPTS.split(",") if s != "ssl-cert")
                    seconds, _ = timed(lab, nmap_argv(hosts, bare), timeout=600)
                    print(
                        f"  nmap without ssl-cert (capabilities only, one run): {seconds:.2f} s; ratio mailprobe/that "
                        f"{ours_s / seconds:.2f}"
                    )
                    line += f"; nmap without ssl-cert {seconds:.2f} s (ratio {ours_s / seconds:.2f})"
                problems += compare(hosts, report, root, args.rtt_ms, len(hosts) == 1, silent)
                summary.append(line)
        print("summary (median wall time):")
        print("\n".join(summary))
        print(f"whole script: {time.monotonic() - began:.0f} s; problems: {problems}")
        return 1 if problems else 0
    finally:
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
