"""Audits of the lab's domains as JSONL, normalised for comparing two ways of running them (one process,
--jobs, --cluster): the same reports, whatever ran them."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from labnet import Lab

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from golden_run import normalise

from mailprobe.model import Report
from mailprobe.report.jsonl import read_jsonl
from mailprobe.report.serialize import to_jsonable

# Not customer.test: Exim's greeting carries the date and time, which no two runs share.
DOMAINS = ["lab.test", "good.test", "badmail.test", "nomx.test", "nullmx.test", "dane-ok.test", "tenant.test"]


def run(lab: Lab, targets: Path, *extra: str) -> list[Any]:
    done = lab.mailprobe(
        "audit", "-i", str(targets), "--resolver", lab.dns4, "--ca-file", lab.ca_file, "--allow-nonpublic",
        "--format", "jsonl", "--fail-on", "never", *extra, timeout=180,
    )  # fmt: skip
    assert done.returncode in (0, 2), done.stderr[-3000:]
    reports = sorted(read_jsonl(done.stdout.splitlines()), key=lambda r: int(dict(r.meta)["index"]))
    assert [r.targets for r in reports] == [(d,) for d in DOMAINS], done.stderr[-3000:]
    return [to_jsonable(in_stable_order(normalise(r, {}))) for r in reports]


def in_stable_order(report: Report) -> Report:
    """Sessions start as their ports are seen open, IPv4 or IPv6 first as the answers come (in one process as
    much as on a cluster): compare them, and what follows their order, sorted."""
    return replace(
        report,
        handshakes=tuple(sorted(report.handshakes, key=lambda h: (h.target.address, h.target.port))),
        findings=tuple(sorted(report.findings, key=lambda f: (f.code, f.target, f.places))),
    )


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON values differ (paths), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:300]} != {str(b)[:300]}"]


def same_as_one_process(lab: Lab, work: Path, *extra: str) -> list[Any]:
    """The lab's domains audited as one process and with `extra` (--jobs, --cluster): their reports, which must
    equal the single process's."""
    work.chmod(0o755)
    targets = work / "domains.txt"
    targets.write_text("\n".join(DOMAINS) + "\n")
    single = run(lab, targets)
    other = run(lab, targets, *extra)
    assert not differences(other, single)
    assert sum(len(r["handshakes"]) for r in other) >= 14  # real sessions with the lab's servers
    return other
