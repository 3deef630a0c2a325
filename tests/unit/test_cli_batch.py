"""Batch runs through the CLI: sharded JSONL merged equals the unsharded run; --report writes a set; -i reads
targets with comments; one bad line does not stop the rest."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailprobe.cli.app import app
from mailprobe.cli.batch import auto_jobs, quota_cores, usable_cores
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.report.json import render as render_json
from mailprobe.report.serialize import report_from_jsonable

runner = CliRunner()
TIMING_KEYS = {"elapsed_ms", "at_ms", "started_at"}


@pytest.fixture(scope="module")
def smtp_ports() -> Iterator[list[int]]:
    """Three SMTP servers with STARTTLS on their own loop in a thread (the CLI runs asyncio.run itself)."""
    loop = asyncio.new_event_loop()
    pki = DemoPki.create(["mx.demo.mailprobe.test"])
    servers = [SmtpServer(pki.server_context()) for _ in range(3)]
    ports = [loop.run_until_complete(s.start()) for s in servers]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield ports
    finally:
        for server in servers:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        pki.close()


def strip_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS and k != "summary"}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def targets_file(tmp_path: Path, ports: list[int]) -> Path:
    lines = ["# three loopback SMTP servers and one bad line", *(f"127.0.0.1:{p}  # server" for p in ports), ""]
    lines.insert(2, "not..valid")
    path = tmp_path / "targets.txt"
    path.write_text("\n".join(lines))
    return path


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code in (0, 1, 2), result.output
    return result


def test_sharded_jsonl_merged_equals_the_unsharded_run(smtp_ports: list[int], tmp_path: Path) -> None:
    targets = targets_file(tmp_path, smtp_ports)
    common = ["handshake", "-i", str(targets), "--timeout", "2", *[f"--port=smtp={p}" for p in smtp_ports]]
    whole = json.loads(run(*common, "--format", "json").stdout)
    shards = []
    for index in (1, 2):
        out = tmp_path / f"shard{index}.jsonl"
        run(*common, "--shard", f"{index}/2", "--format", "jsonl", "--output", str(out))
        shards.append(str(out))
    merged = json.loads(run("merge", *shards, "--json", "--fail-on", "never").stdout)
    assert merged["targets"] == whole["targets"]  # input order restored
    assert strip_timing(merged) == strip_timing(whole)
    assert len(whole["handshakes"]) == 3 and len(whole["errors"]) == 1  # the bad line is reported, not fatal


def test_json_written_as_targets_finish_is_what_the_renderer_writes(smtp_ports: list[int], tmp_path: Path) -> None:
    """--format json writes each target's results as its report arrives (report/json.Prerendered): the text
    is exactly the JSON renderer's for the whole report (read back losslessly)."""
    targets = targets_file(tmp_path, smtp_ports)
    text = run("handshake", "-i", str(targets), "--timeout", "2", "--format", "json").stdout
    report = report_from_jsonable(json.loads(text))
    assert len(report.handshakes) == 3 and report.findings
    assert render_json(report) == text


def test_report_dir_writes_a_set_with_an_index(smtp_ports: list[int], tmp_path: Path) -> None:
    out_dir = tmp_path / "reports"
    result = run(
        "handshake",
        f"127.0.0.1:{smtp_ports[0]}",
        f"--port=smtp={smtp_ports[0]}",
        "--timeout",
        "2",
        "--report",
        str(out_dir),
        "--format",
        "json",
    )
    assert json.loads(result.stdout)["handshakes"], result.output
    names = sorted(p.name for p in out_dir.iterdir())
    assert "index.html" in names and "index.md" in names
    assert {Path(n).suffix for n in names} >= {".json", ".md", ".html"}
    assert all(p.resolve().parent == out_dir.resolve() for p in out_dir.iterdir())


@pytest.mark.parametrize(
    ("command", "total", "cores", "processes"),
    [
        ("ports", 256, 2, 2),  # a process per usable core
        ("handshake", 64, 4, 2),  # but one per 32 targets at most
        ("ports", 63, 2, 1),  # too few to share
        ("ports", 10_000, 64, 8),  # at most AUTO_JOBS_MAX
        ("ports", 256, 1, 1),  # one core
        ("ports", None, 8, 1),  # standard input: the number of targets is unknown
        ("audit", 1000, 8, 1),  # audit and mx share what DNS leads to across targets: one process
        ("mx", 1000, 8, 1),
    ],
)
def test_jobs_0_chooses_a_process_per_core_for_large_listed_scans(
    command: str, total: int | None, cores: int, processes: int
) -> None:
    assert auto_jobs(command, total, cores) == processes
    assert auto_jobs(command, total, cores, raw=True) == 1  # --raw: one socket's paced SYNs, one process


@pytest.mark.parametrize(
    ("cpu_max", "cores"),
    [("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000", 1), ("50000 100000", 1), ("", None),
     ("x 100000", None), ("0 100000", None)],
)  # fmt: skip
def test_a_cgroup_cpu_quota_is_read_as_whole_cores(cpu_max: str, cores: int | None) -> None:
    assert quota_cores(cpu_max) == cores


def test_the_usable_cores_are_at_most_the_affinity_and_the_quota(tmp_path: Path) -> None:
    limit = tmp_path / "cpu.max"
    limit.write_text("100000 100000\n")
    affinity = len(os.sched_getaffinity(0))
    assert usable_cores(str(tmp_path / "absent")) == affinity
    assert usable_cores(str(limit)) == 1
