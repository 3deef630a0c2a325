"""Ctrl-C, for real: a `mailprobe` process started here gets SIGINT (by its PID) while one target has
finished and others wait on a server that never answers. Every format and --report DIR: exit 130 (nagios: its
status word's code), one line on stderr, the output written whole and marked interrupted, the finished
target in it, the rest listed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hostile_server import HostileMode, HostileServer
from processes import start as mailprobe
from threaded import serving

from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.report.jsonl import read_jsonl

FORMATS = ("table", "json", "jsonl", "junit", "markdown", "html", "nagios")
NOT_STARTED = 40  # more slow targets than the run admits at once (36 for handshakes): some never start
SERVICES = ("smtp", "submission", "submissions", "pop3", "pop3s", "imap", "imaps")


@dataclass
class Interrupted:
    code: int
    stdout: str
    stderr: str
    output: Path  # the -o file (or the --report directory)


@dataclass
class Lab:
    fast: str  # a target that finishes at once
    slow: list[str]  # targets whose server never answers
    many: list[str]  # more of them, read from a file
    runs: dict[str, Interrupted]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Every run at once: each waits on the silent server, then all are interrupted together."""
    work = tmp_path_factory.mktemp("interrupt")
    silent_server = HostileServer(HostileMode.SILENT, lifetime=60)
    with serving(SmtpServer(None), silent_server) as [smtp, silent]:
        fast = f"127.0.0.1:{smtp}/smtp"
        slow = [f"127.0.0.1:{silent}/smtp", f"127.0.0.1:{silent}/pop3"]
        common = ("handshake", fast, *slow, "--timeout", "30")
        started: dict[str, tuple[subprocess.Popen[str], Path]] = {}
        for fmt in FORMATS:
            out = work / f"out.{fmt}"
            started[fmt] = (mailprobe(*common, "--format", fmt, "-o", str(out)), out)
        started["stdout"] = (mailprobe(*common), work / "none")
        started["report"] = (mailprobe(*common, "--format", "jsonl", "--report", str(work / "dir")), work / "dir")
        many = work / "targets.txt"
        waiting = [f"127.0.0.1:{silent}/{SERVICES[n % len(SERVICES)]}" for n in range(NOT_STARTED)]
        many.write_text("\n".join([fast, *waiting]) + "\n")
        started["not-started"] = (mailprobe("handshake", "-i", str(many), "--timeout", "30", "--json"), many)
        # The silent server's connections once every run waits on it (8 sessions per address at once).
        sessions = 2 * (len(started) - 1) + 8
        deadline = time.monotonic() + 90
        while len(silent_server.history) < sessions and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # the fast target's handshake takes milliseconds: it has long finished
        for process, _ in started.values():
            assert process.poll() is None, process.communicate()
            process.send_signal(signal.SIGINT)
        runs = {}
        for name, (process, out) in started.items():
            stdout, stderr = process.communicate(timeout=60)
            runs[name] = Interrupted(process.returncode, stdout, stderr, out)
        yield Lab(fast, slow, waiting, runs)


def note(run: Interrupted) -> list[str]:
    return [line for line in run.stderr.splitlines() if not line.startswith("report: ")]


@pytest.mark.parametrize("name", [*FORMATS, "stdout", "report"])
def test_exit_130_and_one_line_on_stderr(lab: Lab, name: str) -> None:
    run = lab.runs[name]
    if name == "nagios":  # its exit code is always its status word's (README: Exit codes)
        word = run.output.read_text().split()[1]
        assert run.code == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[word], run.stderr
    else:
        assert run.code == 130, run.stderr
    assert note(run) == ["mailprobe: interrupted: 1 of 3 targets finished; 2 did not (listed in the report)"]


def test_json(lab: Lab) -> None:
    data = json.loads(lab.runs["json"].output.read_text())
    assert data["interrupted"] is True and data["unfinished"] == lab.slow
    assert data["summary"]["interrupted"] is True
    assert [h["target"]["port"] for h in data["handshakes"]] == [int(lab.fast.split(":")[1].split("/")[0])]
    assert data["handshakes"][0]["status"] == "success"


def test_jsonl_streams_the_finished_target_then_says_what_did_not_finish(lab: Lab) -> None:
    reports = read_jsonl(lab.runs["jsonl"].output.read_text().splitlines())
    assert [r.targets for r in reports] == [(lab.fast,), ()]
    assert not reports[0].interrupted and reports[0].handshakes[0].status.value == "success"
    assert reports[1].interrupted and list(reports[1].unfinished) == lab.slow


def test_junit_is_written_with_an_error_per_unfinished_target(lab: Lab) -> None:
    root = ET.fromstring(lab.runs["junit"].output.read_text())
    cases = {case.get("name"): case for case in root.iter("testcase")}
    for target in lab.slow:
        error = cases[f"interrupted {target}"].find("error")
        assert error is not None and error.get("type") == "interrupted"
    port = lab.fast.split(":")[1].split("/")[0]
    assert any(port in (name or "") for name in cases), sorted(cases)  # the finished target's checks


@pytest.mark.parametrize("name", ["table", "stdout", "markdown", "html"])
def test_the_formats_people_read_say_interrupted_and_list_the_rest(lab: Lab, name: str) -> None:
    run = lab.runs[name]
    text = run.stdout if name == "stdout" else run.output.read_text()
    assert "INTERRUPTED, 2 did not finish" in text
    assert all(target in text for target in lab.slow)
    port = lab.fast.split(":")[1].split("/")[0]
    assert f"127.0.0.1:{port}" in text  # the finished target is there
    if name == "html":
        assert 'id="interrupted"' in text and 'href="#interrupted"' in text
        HTMLParser().feed(text)
    if name in ("table", "stdout"):
        assert "== interrupted: 2 did not finish" in text and f"Handshake smtp 127.0.0.1 127.0.0.1:{port}" in text


def test_nagios(lab: Lab) -> None:
    line = lab.runs["nagios"].output.read_text().splitlines()[0]
    assert line.startswith("MAILPROBE ") and "INTERRUPTED, 2 did not finish" in line
    assert not line.startswith("MAILPROBE OK")  # two targets were not probed
    assert lab.runs["nagios"].code in (2, 3)


def test_the_report_directory_is_written_and_marked(lab: Lab) -> None:
    directory = lab.runs["report"].output
    [json_file] = directory.glob("*.json")
    data = json.loads(json_file.read_text())
    assert data["interrupted"] is True and data["unfinished"] == lab.slow and len(data["handshakes"]) == 1
    assert (directory / "index.html").is_file() and len(list(directory.glob("*.md"))) == 2  # the set and index
    assert "INTERRUPTED" in next(p for p in directory.glob("*.html") if p.name != "index.html").read_text()
    written = [line for line in lab.runs["report"].stderr.splitlines() if line.startswith("report: ")]
    assert len(written) >= 3


def test_targets_never_started_are_listed_too(lab: Lab) -> None:
    run = lab.runs["not-started"]
    assert run.code == 130
    data = json.loads(run.stdout)
    assert data["unfinished"] == lab.many  # in flight first, then those not started: here, input order
    assert note(run) == [
        f"mailprobe: interrupted: 1 of {1 + NOT_STARTED} targets finished; {NOT_STARTED} did not (listed in the report)"
    ]


@pytest.mark.parametrize("args", [["merge", "-"], ["handshake", "-i", "-"]])
def test_a_command_waiting_on_its_input_ends_quietly_too(args: list[str]) -> None:
    """Ctrl-C wherever it lands (starting, or blocked reading stdin): one line, exit 130, no traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mailprobe", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)  # standard input stays open: the Ctrl-C alone ends it
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.startswith("mailprobe: interrupted") and len(stderr.splitlines()) == 1, stderr
