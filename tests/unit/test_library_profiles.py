"""Profiles and baselines are applied inside the pipeline: `mailprobe.audit(..., profile=, baseline=)` judges
them as the CLI does, against a real in-process SMTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from threaded import serving
from typer.testing import CliRunner

import mailprobe
from mailprobe.cli.app import app, main
from mailprobe.config import Config, Limits
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.model import Report
from mailprobe.report import json as json_format

PROFILE = """
name = "pinned"
[run]
stages = ["handshake"]
services = ["smtp"]
legacy_tls = false
timeout = 3
[expect.banner_pattern]
smtp = '^mx1\\.example\\.org '
"""


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    with serving(SmtpServer(None)) as [port]:
        yield port


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "pinned.toml"
    path.write_text(PROFILE)
    return path


def codes(report: Report) -> list[str]:
    return sorted(f.code for f in report.findings if f.code.startswith(("PROFILE-", "BASELINE-")))


def library(target: str, **kwargs: object) -> Report:
    return asyncio.run(mailprobe.audit([target], Config(limits=Limits(read_timeout=3.0)), **kwargs))  # type: ignore[arg-type]


def test_the_library_judges_a_profile(smtp_port: int, profile: Path) -> None:
    report = library(f"127.0.0.1:{smtp_port}", profile=str(profile))
    assert codes(report) == ["PROFILE-BANNER-MISMATCH"]
    assert report.profile == "pinned" and report.ports == ()  # its stages: handshake only
    assert report.context.expect is not None and report.context.expect.banner_patterns


def test_the_library_and_the_cli_turn_a_baseline_into_the_same_findings(
    smtp_port: int, profile: Path, tmp_path: Path
) -> None:
    target = f"127.0.0.1:{smtp_port}"
    first = library(target)
    [handshake] = first.handshakes
    earlier = replace(first, handshakes=(replace(handshake, banner="mx.old.example ESMTP Exim 4.90"),))
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json_format.render(earlier))
    assert "BASELINE-BANNER-CHANGED" in codes(library(target, baseline=earlier))
    from_file = library(target, baseline=baseline, profile=str(profile))
    assert codes(from_file) == ["BASELINE-BANNER-CHANGED", "PROFILE-BANNER-MISMATCH"]
    cli = CliRunner().invoke(app, ["audit", target, "--profile", str(profile), "--baseline", str(baseline), "--json"])
    data = json.loads(cli.stdout)
    assert sorted(f["code"] for f in data["findings"] if f["code"].startswith(("PROFILE-", "BASELINE-"))) == codes(
        from_file
    )
    assert data["profile"] == "pinned"


def test_a_bad_baseline_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit) as ended:
        main(["audit", "127.0.0.1:25", "--baseline", str(bad)])
    err = capsys.readouterr().err
    assert ended.value.code == 2 and err.startswith(f"mailprobe: error: --baseline {bad}: not JSON")
    assert len(err.splitlines()) == 1
