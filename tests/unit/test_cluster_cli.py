"""`--cluster` through the CLI: `local:2` gives the reports the single-process run gives; without Dask it says
how to install it; a bad value is bad input; and a run without --cluster never imports Dask."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from golden_run import normalise

from mailprobe.cli.app import main
from mailprobe.cluster.options import INSTALL_HINT
from mailprobe.demo.lab import DemoEndpoints, DemoLab
from mailprobe.net.guard import ENV
from mailprobe.report.jsonl import read_jsonl
from mailprobe.report.serialize import to_jsonable

LOOPBACK = "127.0.0.0/8,::1/128"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab() -> Iterator[DemoEndpoints]:
    """The demo lab on a loop of its own in a thread (the CLI runs in another process)."""
    loop = asyncio.new_event_loop()
    demo = DemoLab()
    endpoints = loop.run_until_complete(demo.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield endpoints
    finally:
        asyncio.run_coroutine_threadsafe(demo.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def mailprobe(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{ENV: LOOPBACK})
    env.pop("CI", None)
    return subprocess.run(
        [sys.executable, "-m", "mailprobe", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def audit_args(lab: DemoEndpoints, targets: Path) -> list[str]:
    ports = [f"--port={service.value}={port}" for service, port in lab.ports.items()]
    return ["audit", "-i", str(targets), "--resolver", f"127.0.0.1:{lab.dns_port}", "--ca-file", lab.ca_file,
            "--allow-nonpublic", "--format", "jsonl", *ports]  # fmt: skip


def normalised(lab: DemoEndpoints, jsonl: str) -> list[Any]:
    standard = {port: service.default_port for service, port in lab.ports.items()} | {lab.dns_port: 53}
    reports = read_jsonl(jsonl.splitlines())
    by_index = sorted(reports, key=lambda r: int(dict(r.meta)["index"]))
    return [to_jsonable(normalise(r, standard)) for r in by_index]


def test_local_cluster_run_equals_the_single_process_run(lab: DemoEndpoints, tmp_path: Path) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{lab.domain}\n# a comment\n127.0.0.1\nnot a target!\n{lab.mx_name}\n")
    single = mailprobe(*audit_args(lab, targets))
    clustered = mailprobe(*audit_args(lab, targets), "--cluster", "local:2,chunk=1,per-destination=8")
    assert clustered.returncode == single.returncode == 2, clustered.stderr  # the bad target: exit 2 both ways
    assert f"{targets}:4: " in clustered.stderr  # errors still name FILE:LINE
    assert len(read_jsonl(clustered.stdout.splitlines())) == 4
    assert normalised(lab, clustered.stdout) == normalised(lab, single.stdout)


def test_the_summary_line_counts_retried_targets() -> None:
    from mailprobe.model import Report
    from mailprobe.report.describe import summary_line

    report = Report("audit", ("a", "b"), "2026-01-01T00:00:00+00:00", 0.0, retried=("a",))
    assert summary_line(report).endswith("1 retried after a worker died")
    assert json.loads(json.dumps(to_jsonable(report)))["summary"]["retried"] == 1


def exit_of(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as ended:
        main(argv)
    return int(ended.value.code or 0)


def test_without_dask_cluster_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    assert exit_of(["audit", "127.0.0.1", "--cluster", "local:2"]) == 2
    assert INSTALL_HINT in capsys.readouterr().err


BAD_VALUES = ["bogus", "local:0", "http://h:1", "local:2,rate=x", "local:2,per-destination=-1", "local:2,chunk=0"]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_a_bad_cluster_value_is_bad_input(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_of(["audit", "127.0.0.1", "--cluster", value]) == 2
    assert "bad --cluster" in capsys.readouterr().err


def test_a_run_without_cluster_never_imports_dask() -> None:
    code = (
        "import atexit, sys\n"
        "names = ('dask', 'distributed')\n"
        "atexit.register(lambda: print(sorted(m for m in names if m in sys.modules), file=sys.stderr))\n"
        "from mailprobe.cli.app import main\n"
        "sys.argv = ['mailprobe', 'ports', '127.0.0.1', '--ports', '9', '--timeout', '1']\n"
        "main()\n"
    )
    env = dict(os.environ, **{ENV: LOOPBACK})
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.stderr.strip().endswith("[]"), result.stderr


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, **{ENV: LOOPBACK, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"})
    done = subprocess.run(
        [sys.executable, "-m", "mailprobe", "ports", "127.0.0.1", "--cluster", "tcp://127.0.0.1:9"],
        capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr
