"""The exit-code and format contracts (README "Exit codes", nagios, Ctrl-C, merge, egress errors), each through
the real CLI where it can be: nagios's code is its status word's, interrupted runs included; what could not be
probed (the unfinished targets of an interrupted run, destinations that do not resolve) is counted alike by
every format; Ctrl-C in egress and demo renders what finished; bad input is one line naming FILE:LINE."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from samples import sample_report
from threaded import serving

from mailprobe.cli import common
from mailprobe.cli.app import main
from mailprobe.demo.dns_server import DnsServer
from mailprobe.model import (
    EgressResult,
    EgressVerdict,
    ErrorKind,
    PortState,
    ProbeStatus,
    Report,
    RunError,
)
from mailprobe.report.jsonl import read_jsonl
from mailprobe.report.jsonl import render as jsonl
from mailprobe.report.nagios import STATUS_NAMES, Thresholds, nagios_status
from mailprobe.report.summary import summarize

SAFE_ENV = {"MAILPROBE_ALLOW_ONLY": "127.0.0.0/8,::1/128"}
DEAD_RESOLVER = "127.0.0.1:9"
ZONE = "$ORIGIN lab.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\nhere A 127.0.0.1\n"


@pytest.fixture(autouse=True)
def _safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SAFE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(common, "_interruption_said", False)  # one line per process: per test here


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def clean_report(**changes: Any) -> Report:
    """Results only: no finding, no error (what an interrupted run's finished part may well be)."""
    base = sample_report()
    clean: dict[str, Any] = {
        "findings": (),
        "checks": (),
        "errors": (),
        "ports": tuple(p for p in base.ports if p.state is PortState.OPEN),
        "handshakes": tuple(h for h in base.handshakes if h.status is ProbeStatus.SUCCESS),
    }
    return replace(base, **{**clean, **changes})


def interrupted_shard(tmp_path: Path) -> Path:
    """A --format jsonl run's file after Ctrl-C: the finished target's report, then the interruption's."""
    finished = clean_report(meta=(("index", "0"),))
    last = Report("audit", (), finished.started_at, 0.0, interrupted=True, unfinished=("slow.example.com",))
    path = tmp_path / "shard.jsonl"
    path.write_text(jsonl(finished) + jsonl(last))
    return path


# -- 1. nagios on an interrupted run without errors or findings -----------------------------------------------


def test_nagios_interrupted_without_error_or_finding_is_unknown_and_says_so() -> None:
    report = clean_report(interrupted=True, unfinished=("slow.example.com",))
    code, text = nagios_status(report, Thresholds())
    line = text.splitlines()[0]
    assert code == 3 and line.startswith("MAILPROBE UNKNOWN - ")
    assert "INTERRUPTED, 1 did not finish" in line
    assert "could not probe" not in line  # nothing else failed


def test_nagios_interrupted_with_an_error_names_it() -> None:
    error = RunError("mx9.example.com", ErrorKind.NETWORK, "no route to host")
    report = clean_report(interrupted=True, unfinished=("slow.example.com",), errors=(error,))
    code, text = nagios_status(report, Thresholds())
    line = text.splitlines()[0]
    assert code == 3 and "INTERRUPTED, 1 did not finish" in line
    assert "; could not probe: mx9.example.com: no route to host" in line


def test_nagios_interrupted_before_anything_finished() -> None:
    report = Report("demo", ("demo.mailprobe.test",), "t", 1.0, interrupted=True, unfinished=("demo.mailprobe.test",))
    code, text = nagios_status(report, Thresholds())
    assert code == 3
    assert text.startswith("MAILPROBE UNKNOWN - demo.mailprobe.test: INTERRUPTED, 1 did not finish, nothing measured")


def test_merge_of_an_interrupted_shard_in_nagios(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "merge", str(interrupted_shard(tmp_path)), "--format", "nagios")
    assert "Traceback" not in err
    assert code == 3 and out.startswith("MAILPROBE UNKNOWN - ")
    assert "INTERRUPTED, 1 did not finish" in out.splitlines()[0]


# -- 6, 7. merge of an interrupted shard: exit 2, and every format counts the unfinished target alike -------------


def test_merge_of_an_interrupted_shard_exits_as_could_not_probe(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "merge", str(interrupted_shard(tmp_path)), "--format", "json")
    data = json.loads(out)
    assert data["interrupted"] is True and data["unfinished"] == ["slow.example.com"]
    assert code == 2


def test_every_format_counts_the_unfinished_target_as_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shard = str(interrupted_shard(tmp_path))
    _, out, _ = run(capsys, "merge", shard, "--format", "json")
    summary = json.loads(out)["summary"]
    assert summary["errors"] == 1 and summary["errors_by_kind"] == {"interrupted": 1}
    assert summary["could_not_probe"] == [
        {"target": "slow.example.com", "kind": "interrupted", "message": "did not finish, the run was interrupted"}
    ]
    _, out, _ = run(capsys, "merge", shard, "--format", "junit")
    root = ET.fromstring(out)
    assert root.get("errors") == "1"
    names = [case.get("name") for case in root.iter("testcase") if case.find("error") is not None]
    assert names == ["interrupted slow.example.com"]  # once, not twice
    _, out, _ = run(capsys, "merge", shard, "--format", "nagios")
    assert "'errors'=1;;;0" in out
    _, out, _ = run(capsys, "merge", shard, "--format", "table")
    words = " ".join(out.split())
    assert "1 could not be probed" in words and "INTERRUPTED, 1 did not finish" in words
    assert "== could not probe" not in out  # the interrupted section lists it, once


# -- 8. merge of a --format json report ----------------------------------------------------------------------------


def test_merge_of_a_json_report_says_it_is_not_jsonl(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"schema_version": 2, "command": "audit", "summary": {}}, indent=2) + "\n")
    code, out, err = run(capsys, "merge", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "line 1: a --format json report" in err and "--format jsonl" in err
    assert "Expecting property name" not in err


# -- 2. egress: what did not resolve is an error; an inconclusive egress measured nothing ------------------------


def test_an_inconclusive_egress_is_not_a_measurement_and_nagios_is_unknown() -> None:
    error = RunError("nosuch.test", ErrorKind.NO_ADDRESS, "does not resolve (A nxdomain; AAAA nxdomain)")
    egress = EgressResult(EgressVerdict.INCONCLUSIVE, "Cannot tell: no target could be resolved to an address.", ())
    report = Report("egress", ("nosuch.test",), "t", 1.0, egress=egress, errors=(error,))
    assert not summarize(report).has_results
    code, text = nagios_status(report, Thresholds())
    assert code == 3 and text.startswith("MAILPROBE UNKNOWN - nosuch.test: nothing measured: nosuch.test: does not")
    bare = Report("egress", ("x.test",), "t", 1.0, egress=egress)  # no error at all: still nothing measured
    assert nagios_status(bare, Thresholds())[0] == 3


def test_egress_counts_a_destination_that_does_not_resolve(capsys: pytest.CaptureFixture[str], control: int) -> None:
    with serving(DnsServer([("lab.test", ZONE)], behaviours={"gone.lab.test": "nxdomain"})) as [dns_port]:
        args = ("egress", "-t", "127.0.0.1", "-t", "gone.lab.test", "--control-port", str(control))
        args += ("--resolver", f"127.0.0.1:{dns_port}", "--timeout", "2")
        _, out, err = run(capsys, *args, "--format", "json")
        nagios_code, nagios_out, _ = run(capsys, *args, "--format", "nagios")
    data = json.loads(out)
    assert data["summary"]["errors"] == 1
    [error] = data["summary"]["could_not_probe"]
    assert error["target"] == "gone.lab.test" and error["kind"] == "no-address"
    assert "mailprobe: error: gone.lab.test: does not resolve" in err
    assert "'errors'=1;;;0" in nagios_out
    word = nagios_out.split()[1]
    assert nagios_code == {v: k for k, v in STATUS_NAMES.items()}[word]
    assert word != "OK"  # part of the run could not be probed: never OK


def test_egress_checks_the_resolver_when_a_name_needs_dns(capsys: pytest.CaptureFixture[str], control: int) -> None:
    args = ("egress", "-t", "127.0.0.1", "-t", "gone.lab.test", "--control-port", str(control))
    code, out, err = run(capsys, *args, "--resolver", DEAD_RESOLVER, "--timeout", "2", "--format", "nagios")
    assert code == 3
    assert out.startswith("MAILPROBE UNKNOWN - resolver 127.0.0.1:9") and out.count("\n") == 1
    assert err.startswith("mailprobe: error: resolver 127.0.0.1:9") and err.count("\n") == 1


# -- 3, 4. Ctrl-C in egress and demo renders what finished; nagios exits with its status word ---------------------


async def _interrupted(*_args: Any, **_kwargs: Any) -> Any:
    """A measurement that gets Ctrl-C while it runs (SIGINT to this process, as a terminal sends it)."""
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.sleep(30)
    raise AssertionError("not interrupted")


@pytest.mark.parametrize(("fmt", "expected"), [("json", 130), ("nagios", 3), ("table", 130)])
def test_ctrl_c_in_egress_renders_the_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, control: int, fmt: str, expected: int
) -> None:
    import mailprobe.probes.egress as probe

    monkeypatch.setattr(probe, "egress_run", _interrupted)
    code, out, err = run(
        capsys, "egress", "-t", "127.0.0.1", "--control-port", str(control), "--resolver", DEAD_RESOLVER, "-f", fmt
    )
    assert code == expected, err
    assert "Traceback" not in err and err.startswith("mailprobe: interrupted")
    if fmt == "json":
        data = json.loads(out)
        assert data["interrupted"] is True and data["unfinished"] == ["127.0.0.1"]
        assert data["summary"]["errors"] == 1
    elif fmt == "nagios":
        assert out.startswith("MAILPROBE UNKNOWN - 127.0.0.1: INTERRUPTED, 1 did not finish")
    else:
        assert "INTERRUPTED, 1 did not finish" in out


@pytest.mark.parametrize(("fmt", "expected"), [("json", 130), ("nagios", 3)])
def test_ctrl_c_in_demo_renders_the_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str, expected: int
) -> None:
    import mailprobe.demo.run as demo_run

    monkeypatch.setattr(demo_run, "run_demo", _interrupted)
    code, out, err = run(capsys, "demo", "-f", fmt)
    assert code == expected, err
    assert "Traceback" not in err and err.startswith("mailprobe: interrupted")
    if fmt == "json":
        data = json.loads(out)
        assert data["command"] == "demo" and data["interrupted"] is True
        assert data["unfinished"] == ["demo.mailprobe.test"]
    else:
        assert out.startswith("MAILPROBE UNKNOWN - demo.mailprobe.test: INTERRUPTED, 1 did not finish")


# -- 5. a bad line of -i FILE is named FILE:LINE ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["ports", "handshake"])
@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("127.0.0.1/33", "bad block '127.0.0.1/33'"),
        ("10.0.0.0/8", "over the limit of 65,536 per block"),
        ("127.0.0.1:25/bogus", "unknown service 'bogus'"),
    ],
)
def test_a_bad_input_line_is_named_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, line: str, message: str
) -> None:
    path = tmp_path / "targets.txt"
    path.write_text(f"# targets\n127.0.0.1\n{line}\n")
    code, out, err = run(capsys, command, "-i", str(path), "--resolver", DEAD_RESOLVER)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"mailprobe: error: --input {path}:3: ") and message in err


def test_a_bad_line_on_standard_input_is_named_too() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "mailprobe", "ports", "-i", "-", "--format", "json"],
        input="127.0.0.1/33\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **SAFE_ENV},
    )
    assert process.returncode == 2
    assert process.stderr.startswith("mailprobe: error: --input stdin:1: bad block '127.0.0.1/33'"), process.stderr
    assert process.stderr.count("\n") == 1


# -- 9. a --ca-file that is not PEM -----------------------------------------------------------------------------


def test_a_ca_file_that_is_not_pem_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate\n")
    code, out, err = run(capsys, "handshake", "127.0.0.1:9/smtp", "--ca-file", str(path), "--resolver", DEAD_RESOLVER)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"mailprobe: error: --ca-file {path}: not a PEM file of CA certificates")
    assert "internal error" not in err


# -- 10. profiles --check in the terminal's width; --critical-on's help where there is no --fail-on ---------------


def test_profiles_check_is_laid_out_in_the_terminal_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = run(capsys, "profiles", "--check", "isp-check")
    assert code == 0 and "egress targets:" in out
    assert max(len(line) for line in out.splitlines()) <= 60, out
    assert "smtp.gmail.com" in out  # wrapped, not cut


@pytest.mark.parametrize("command", ["egress", "demo"])
def test_critical_on_help_names_no_fail_on_where_there_is_none(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "fail-on" not in out
    assert "CRITICAL for findings at or above SEVERITY. Default: high." in " ".join(out.split())


def test_read_jsonl_still_reads_an_interrupted_shard(tmp_path: Path) -> None:
    reports = read_jsonl(interrupted_shard(tmp_path).read_text().splitlines())
    assert [r.interrupted for r in reports] == [False, True]
