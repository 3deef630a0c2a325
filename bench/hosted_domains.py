"""`mailprobe audit` of many domains hosted together, beside the same run by an earlier mailprobe and beside
one domain alone.

The domains are one provider's customers: every dN.hosted.test has the MX mx1.lab.test (Postfix 25/587/465,
Dovecot 110/995/143/993; tests/lab/zones/hosted.test.zone), in the lab at a 50 ms round trip. Since the
scheduler shares what DNS leads to (mailprobe/shared_work.py), the run probes mx1's ports once and runs each
of its sessions once, however many domains name it; the mailprobe of `--before REV` (default: the commit
before that) probes it once per domain. Both runs are timed whole, as a user runs them:
    mailprobe audit -i domains.txt --format jsonl --output out.jsonl --ca-file LAB_CA --resolver LAB_DNS
                    --allow-nonpublic   (the lab's addresses are documentation addresses)
and each domain's report is compared with the lone domain's (the same ports, the same sessions and
statuses). The bound: one domain alone (its probing, plus DNS for all the domains, which overlaps it).
Also printed: the CPU seconds the servers (Postfix, Dovecot) spent, i.e. what the run cost them.

Needs root, the lab packages (tests/lab/install-deps.sh) and git (for --before). Exit 1 if a domain's report
differs from the lone one's.

    sudo .venv/bin/python bench/hosted_domains.py [--domains 100] [--rtt-ms 50] [--before REV]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bounds import compile_bytecode, mailprobe_command, namespace_cpu

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "lab"))
BEFORE_SHARING = "02d02d5"  # the last commit whose scheduler probed every domain's MX on its own


def shape(path: Path) -> tuple[dict[str, tuple[Any, ...]], int]:
    """Per domain: its sorted (host, port, state) and (host, service, status); and the errors in the run."""
    ports: dict[str, list[tuple[Any, ...]]] = {}
    sessions: dict[str, list[tuple[Any, ...]]] = {}
    errors = 0
    target = ""
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj["type"] == "run":
            target = obj["targets"][0]
            ports[target], sessions[target] = [], []
        elif obj["type"] == "target":  # the domain's group, then its MX host's
            ports[target] += [(p["host"], p["port"], p["state"]) for p in obj["ports"]]
            sessions[target] += [(h["target"]["host"], h["target"]["service"], h["status"]) for h in obj["handshakes"]]
        elif obj["type"] == "summary":
            errors += len(obj["errors"])
    return {t: (tuple(sorted(ports[t])), tuple(sorted(sessions[t]))) for t in ports}, errors


def audit(lab: Any, domains: list[str], work: Path, tree: Path | None) -> tuple[float, float, Path]:
    """Wall seconds of the whole process, the servers' CPU seconds meanwhile, and the JSONL it wrote."""
    listed, out = work / "domains.txt", work / "out.jsonl"
    listed.write_text("\n".join(domains) + "\n")
    out.unlink(missing_ok=True)
    argv = [*mailprobe_command(tree), "audit", "-i", str(listed), "--format", "jsonl", "--output", str(out)]
    argv += ["--ca-file", lab.ca_file, "--resolver", lab.dns4, "--timeout", "5", "--allow-nonpublic"]
    servers = namespace_cpu(lab.servers_ns)
    started = time.monotonic()
    done = lab.run_client(argv, timeout=900)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"mailprobe exit {done.returncode}: {done.stderr[-1500:]}")
    return wall, namespace_cpu(lab.servers_ns) - servers, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--before", default=BEFORE_SHARING, help="the earlier commit to run beside (git rev)")
    args = parser.parse_args()
    from labnet import Lab, LabUnavailable

    with tempfile.TemporaryDirectory(prefix="mp-hosted-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        before = work / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "mailprobe"], capture_output=True)
        if archive.returncode != 0:
            print(f"git archive {args.before}: {archive.stderr.decode(errors='replace').strip()}")
            return 2
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        compile_bytecode(REPO, before)
        try:
            lab = Lab.up(rtt_ms=args.rtt_ms)
        except LabUnavailable as exc:
            print(f"lab unavailable: {exc}")
            return 2
        try:
            domains = [f"d{n}.hosted.test" for n in range(1, args.domains + 1)]
            audit(lab, domains[:1], work, None)  # warm-up: caches, the servers' first processes
            alone_wall, alone_cpu, out = audit(lab, domains[:1], work, None)
            alone, _ = shape(out)
            expected = alone[domains[0]]
            sessions = len(expected[1])
            print(
                f"lab up in {lab.start_seconds:.1f} s; rtt {args.rtt_ms:g} ms; "
                f"one domain alone: wall {alone_wall:.2f} s, "
                f"{len(expected[0])} ports, {sessions} sessions {dict(Counter(s[2] for s in expected[1]))}, "
                f"servers' CPU {alone_cpu:.2f} s"
            )
            problems = 0
            walls: dict[str, float] = {}
            for name, tree in (("this checkout", None), (f"before ({args.before})", before)):
                wall, cpu, out = audit(lab, domains, work, tree)
                found, errors = shape(out)
                differ = [d for d in domains if found.get(d) != expected]
                problems += len(differ) + errors
                walls[name] = wall
                print(
                    f"{args.domains} domains, {name:22s} wall {wall:6.2f} s  servers' CPU {cpu:6.2f} s  "
                    f"reports as the lone domain's: {args.domains - len(differ)}/{args.domains}, errors {errors}"
                )
                for domain in differ[:3]:
                    ports, sessions = found.get(domain, ((), ()))
                    unlike = [s for s in sessions if s not in expected[1]] + [p for p in ports if p not in expected[0]]
                    print(f"    {domain}: {len(ports)} ports, {len(sessions)} sessions; unlike the lone one: {unlike}")
            ours, theirs = walls["this checkout"], walls[f"before ({args.before})"]
            print(
                f"ratio this/before {ours / theirs:.3f}; bound (one domain alone) {alone_wall:.2f} s, "
                f"this/bound {ours / alone_wall:.2f}"
            )
            return 1 if problems else 0
        finally:
            lab.down()


if __name__ == "__main__":
    sys.exit(main())
