"""How a run ends, through the real CLI: exit codes, nagios states, what could not be probed counted alike by
every format, input echoed safely on stderr, and outputs that cannot be written."""

from __future__ import annotations

import json
import re
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from processes import start
from typer.testing import CliRunner

from mailprobe.cli.app import app, main

runner = CliRunner()
REFUSED = "203.0.113.9"  # outside the guard these tests set: refused before anything is sent
STATUS_CODE = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILPROBE_ALLOW_ONLY", "127.0.0.0/8,::1/128")


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def nagios_word(out: str) -> str:
    match = re.match(r"MAILPROBE (OK|WARNING|CRITICAL|UNKNOWN) - ", out)
    assert match, out
    return match.group(1)


# --- a target that could not be probed counts as an error everywhere -------------------------------------------


@pytest.fixture(scope="module")
def refused_outputs() -> dict[str, tuple[int, str]]:
    outputs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAILPROBE_ALLOW_ONLY", "127.0.0.0/8,::1/128")
        for fmt in ("table", "json", "jsonl", "junit", "markdown", "html", "nagios"):
            result = runner.invoke(app, ["ports", REFUSED, "--timeout", "1", "--format", fmt])
            outputs[fmt] = (result.exit_code, result.stdout)
    return outputs


def test_a_refused_target_is_the_could_not_probe_exit_code(refused_outputs: dict[str, tuple[int, str]]) -> None:
    for fmt, (code, _) in refused_outputs.items():
        assert code == (3 if fmt == "nagios" else 2), fmt


def test_json_errors_agree_with_the_port_counts(refused_outputs: dict[str, tuple[int, str]]) -> None:
    summary = json.loads(refused_outputs["json"][1])["summary"]
    assert summary["ports"] == {"blocked": 7}  # the guard refused: nothing sent
    assert summary["errors"] == 7 and summary["errors_by_kind"] == {"refused-by-guard": 7}
    targets = sorted(e["target"] for e in summary["could_not_probe"])
    assert targets == sorted(f"{REFUSED}:{port}" for port in (25, 587, 465, 110, 995, 143, 993))
    last = json.loads(refused_outputs["jsonl"][1].splitlines()[-1])
    assert last["type"] == "summary" and last["summary"]["errors"] == 7


def test_table_junit_markdown_html_say_so(refused_outputs: dict[str, tuple[int, str]]) -> None:
    table = refused_outputs["table"][1]
    assert "Summary: no findings; 0/7 ports open; 7 could not be probed" in table
    assert "== could not probe" in table and "refused by safety guard" in table
    root = ET.fromstring(refused_outputs["junit"][1])
    assert root.get("errors") == "7"
    assert {case.get("name") for case in root.iter("testcase") if case.find("error") is not None} == {
        f"refused-by-guard {REFUSED}:{port}" for port in (25, 587, 465, 110, 995, 143, 993)
    }
    for fmt in ("markdown", "html"):
        assert "7 could not be probed" in refused_outputs[fmt][1], fmt
    assert nagios_word(refused_outputs["nagios"][1]) == "UNKNOWN"
    assert refused_outputs["nagios"][1].count("\n") == 2  # the status line and one grouped [ERROR] line


def test_a_refused_handshake_is_unknown_not_critical(loopback_only: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "handshake", f"{REFUSED}:25", "--timeout", "1", "--format", "nagios")
    assert (code, nagios_word(out)) == (3, "UNKNOWN")
    code, out, _ = run_main(capsys, "handshake", f"{REFUSED}:25", "--timeout", "1", "--json")
    assert code == 2 and json.loads(out)["summary"]["errors_by_kind"] == {"refused-by-guard": 1}


# --- nagios: the exit code is the status word -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ([], "OK"),  # the demo's findings are info only
        (["--warning-on", "info"], "WARNING"),
        (["--critical-on", "info"], "CRITICAL"),
        (["--warning-on", "never", "--critical-on", "never"], "OK"),
    ],
)
def test_nagios_exit_code_equals_the_status_word(options: list[str], word: str) -> None:
    result = runner.invoke(app, ["demo", "--format", "nagios", *options])
    assert nagios_word(result.stdout) == word
    assert result.exit_code == STATUS_CODE[word]


def test_nagios_honours_fail_on(loopback_only: None) -> None:
    result = runner.invoke(app, ["merge", str(_demo_jsonl()), "--format", "nagios", "--fail-on", "info"])
    assert (nagios_word(result.stdout), result.exit_code) == ("CRITICAL", 2)


def _demo_jsonl() -> Path:
    path = Path(__file__).resolve().parents[1] / "golden" / "report" / "audit.jsonl"
    assert path.is_file()
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["audit", "bad name!", "--format", "nagios"],  # a target that could not be probed at all
        ["audit", "example.test", "--format", "nagios", "--resolver", "127.0.0.1:9", "--timeout", "1"],
        ["audit", "example.test", "-f", "nagios", "--no-such-option"],
        ["audit", "example.test", "--format=nagios", "--timeout", "-1"],
        ["audit", "example.test", "--format", "nagios", "--warning-on", "high", "--critical-on", "medium"],
    ],
)
def test_nagios_bad_input_is_one_unknown_line_and_exit_3(
    loopback_only: None, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 3
    assert nagios_word(out) == "UNKNOWN"
    assert "Traceback" not in err
    if "bad name!" not in argv:
        assert out.count("\n") == 1  # exactly one status line


def test_egress_nagios_exit_code_is_the_status_word(capsys: pytest.CaptureFixture[str]) -> None:
    probe = socket.socket()
    if probe.connect_ex(("127.0.0.1", 25)) == 0:
        probe.close()
        pytest.skip("something listens on 127.0.0.1:25 here")
    probe.close()
    control = socket.socket()
    control.bind(("127.0.0.1", 0))
    control.listen(8)
    try:
        port = str(control.getsockname()[1])
        code, out, _ = run_main(capsys, "egress", "--target", "127.0.0.1", "--control-port", port, "-f", "nagios")
        plain, _, _ = run_main(capsys, "egress", "--target", "127.0.0.1", "--control-port", port, "--json")
    finally:
        control.close()
    assert code == STATUS_CODE[nagios_word(out)]
    assert nagios_word(out) == "CRITICAL" and plain == 1  # blocked: the plain exit code keeps its own meaning


# --- what echoes input on stderr is escaped; input files --------------------------------------------------------


def test_errors_about_input_lines_name_file_and_line_and_are_escaped(
    loopback_only: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_bytes(b"# two bad lines\n127.0.0.1:99999\n\x1b[31mred\x1b]0;title\x07\n")
    code, _, err = run_main(capsys, "ports", "-i", str(targets), "--timeout", "1", "--json")
    assert code == 2
    lines = sorted(err.splitlines())  # targets finish in any order
    assert lines[0].startswith(f"mailprobe: error: {targets}:2: 127.0.0.1:99999: bad port 99999")
    assert lines[1].startswith(f"mailprobe: error: {targets}:3: \\x1b[31mred\\x1b]0;title\\x07")
    assert "\x1b" not in err and "\x07" not in err


def test_a_usage_error_echoing_input_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "audit", "example.test", "--format", "\x1b[2Jx")
    assert code == 2 and err == "mailprobe: error: bad --format '\\x1b[2Jx': one of " + (
        "table, json, jsonl, junit, markdown, html, nagios\n"
    )


def test_a_binary_input_file_is_refused_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    binary = tmp_path / "image.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x1b[2J")
    code, out, err = run_main(capsys, "audit", "-i", str(binary))
    assert (code, out) == (2, "")
    assert err == f"mailprobe: error: --input {binary}:1: not UTF-8 text (a binary file?)\n"  # the first bad line
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"example.test\n\nmx.example.test\x00\n")
    code, _, err = run_main(capsys, "audit", "-i", str(nul))
    assert code == 2 and err == f"mailprobe: error: --input {nul}:3: a binary file, not a list of targets (NUL byte)\n"
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"example.test\nm\xe4il.example\n")
    code, _, err = run_main(capsys, "audit", "-i", str(latin1))
    assert code == 2 and err == f"mailprobe: error: --input {latin1}:2: not UTF-8 text (a binary file?)\n"


# --- outputs that cannot be written -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "where", "message"),
    [
        ("-o", "missing/out.json", "no such directory"),
        ("-o", ".", "is a directory"),
        ("-o", "/proc/version", "not writable"),  # read-only for root too
        ("--report", "a-file", "not a directory"),
        ("--report", "/proc", "not writable"),
        ("--report", "/proc/mailprobe-reports", "No such file or directory"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_line_before_anything_runs(
    loopback_only: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, where: str, message: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    path = where if where.startswith("/") else str(tmp_path / where)
    code, out, err = run_main(capsys, "ports", "127.0.0.1", "--ports", "9", "--timeout", "1", option, path)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_output_files_are_written_whole_through_a_rename(
    loopback_only: None, capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    target = tmp_path / f"out.{fmt}"
    target.write_text("old content that must go\n")
    old_inode = target.stat().st_ino
    code, out, _ = run_main(
        capsys, "ports", "127.0.0.1", "--ports", "9", "--timeout", "1", "-f", fmt, "-o", str(target)
    )
    assert (code, out) == (0, "")
    assert target.stat().st_ino != old_inode  # replaced, not rewritten in place
    assert "old content" not in target.read_text() and target.read_text().endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_reader_that_goes_away_is_exit_141_not_findings(jobs: str) -> None:
    """`mailprobe ... | head -1`: more output than a pipe holds (200 targets of JSONL), the reader closes after
    one line. The run stops at once and says nothing; 141 as for a program SIGPIPE ended (typer's 1 read as
    "findings" before), with --jobs too."""
    targets = [f"127.0.0.{n}" for n in range(1, 201)]
    process = start("ports", *targets, "--ports", "1", "--format", "jsonl", "--jobs", jobs)
    assert process.stdout is not None and process.stderr is not None
    assert json.loads(process.stdout.readline())["type"] == "run"
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141 and stderr == ""
