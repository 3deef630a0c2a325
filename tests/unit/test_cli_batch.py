"""Batch runs through the CLI: sharded JSONL merged equals the unsharded run; --report writes a set; -i reads
targets with comments; one bad line does not stop the rest."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mailprobe.cli.app import app
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.smtp_server import SmtpServer

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
