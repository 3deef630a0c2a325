"""`--jobs N`, for real: `mailprobe` processes started here fork their children, which probe loopback servers.

The reports are those of one process, in input order; each target is reported once; a child that dies
leaves its targets as `worker-lost` errors (exit 2), the others finish; Ctrl-C to the process group ends the
run as without --jobs (130, the finished targets kept, the rest `unfinished`) and leaves no child behind;
errors name FILE:LINE; the status line shows what a child waits for; bad values are one line, exit 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_server import HostileMode, HostileServer
from processes import start as mailprobe
from ptyrun import environment, run_in_pty
from threaded import serving

from mailprobe.cli.batch import auto_jobs, usable_cores
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.jobs import _Child, _end, _frame, _receive


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    """A server that never greets, and one that does at once."""
    with serving(HostileServer(HostileMode.SILENT, lifetime=30), SmtpServer(None)) as [silent, smtp]:
        yield silent, smtp


def finished(*args: str) -> subprocess.CompletedProcess[str]:
    process = mailprobe(*args)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def children(pid: int) -> list[int]:
    """The processes `pid` has forked (Linux's /proc; a thread may end while its tasks are read)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "children").read_text()
        except FileNotFoundError:
            continue
        found += [int(child) for child in text.split()]
    return found


def wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def comparable(report: dict[str, Any]) -> list[Any]:
    """What a port scan found, without times: each port's place and state, in the report's order."""
    return [(p["host"], p["address"], p["port"], p["state"], p["reason"]) for p in report["ports"]]


def test_the_reports_are_those_of_one_process_in_input_order(tmp_path: Path) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(64)
    port = listening.getsockname()[1]
    try:
        # 127.0.0.1 answers (open), every other loopback address refuses (closed): a mix, in a known order.
        targets = [f"127.0.0.{n}" for n in (1, 7, 2, 9, 1, 3, 4, 5, 6, 8, 10, 11)]
        listed = tmp_path / "targets.txt"
        listed.write_text("\n".join(targets) + "\n")
        common = ("ports", "-i", str(listed), "--ports", f"{port},1", "--json")
        one, three = finished(*common), finished(*common, "--jobs", "3")
    finally:
        listening.close()
    assert one.returncode == three.returncode == 0, three.stderr
    alone, spread = json.loads(one.stdout), json.loads(three.stdout)
    assert spread["targets"] == alone["targets"] == targets
    assert comparable(spread) == comparable(alone)
    assert [p["host"] for p in spread["ports"]] == [t for t in targets for _ in range(2)]
    states = {(p["address"], p["port"]): p["state"] for p in spread["ports"]}
    assert states[("127.0.0.1", port)] == "open" and states[("127.0.0.7", port)] == "closed"
    assert spread["summary"] == alone["summary"]


def test_jsonl_streams_every_target_once_from_standard_input(servers: tuple[int, int]) -> None:
    _, smtp = servers
    targets = [f"127.0.0.1:{smtp}/smtp"] * 9
    process = mailprobe("handshake", "-i", "-", "--format", "jsonl", "--jobs", "2", stdin=subprocess.PIPE)
    stdout, stderr = process.communicate("\n".join(targets) + "\n", timeout=120)
    assert process.returncode in (0, 1), stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert sorted(int(line["meta"]["index"]) for line in lines if line["type"] == "run") == list(range(9))
    sessions = [h for line in lines if line["type"] == "target" for h in line["handshakes"]]
    assert len(sessions) == 9 and all(h["status"] == "success" for h in sessions), sessions[:1]


def test_a_bad_line_on_standard_input_ends_the_run_as_in_one_process() -> None:
    process = mailprobe("ports", "-i", "-", "--ports", "1", "--json", "--jobs", "2", stdin=subprocess.PIPE)
    stdout, stderr = process.communicate("127.0.0.1\n127.0.0.1/33\n", timeout=60)
    assert process.returncode == 2 and stdout == ""
    assert stderr.startswith("mailprobe: error: --input stdin:2: bad block '127.0.0.1/33'") and stderr.count("\n") == 1


def test_the_run_forks_its_children_and_a_dead_one_loses_only_its_targets(
    servers: tuple[int, int], tmp_path: Path
) -> None:
    silent, smtp = servers
    listed = tmp_path / "targets.txt"
    slow = [f"127.0.0.1:{silent}/smtp"] * 4
    listed.write_text("\n".join([*slow, f"127.0.0.1:{smtp}/smtp"]) + "\n")
    process = mailprobe("handshake", "-i", str(listed), "--timeout", "4", "--json", "--jobs", "2")
    wait_for(lambda: len(children(process.pid)) == 2)
    first, second = children(process.pid)
    wait_for(lambda: len(silent_server_sessions(silent)) >= 4)
    os.kill(first, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)
    report = json.loads(stdout)
    assert process.returncode == 2
    lost = [e for e in report["errors"] if e["kind"] == "worker-lost"]
    assert lost and all(e["target"] == slow[0] for e in lost)
    why = f"the worker process {first} ended before finishing it (killed by SIGKILL)"
    assert all(e["message"] == why for e in lost)
    timed_out = [h for h in report["handshakes"] if h["target"]["port"] == silent]
    assert len(lost) + len(timed_out) == 4  # each slow target once: lost with its process, or run in the other
    assert all(h["status"] == "io-timeout" for h in timed_out), [h["status"] for h in timed_out]
    assert [h["status"] for h in report["handshakes"] if h["target"]["port"] == smtp] == ["success"]
    said = [line for line in stderr.splitlines() if "worker process" in line]
    named = rf"mailprobe: error: {re.escape(str(listed))}:[1-4]: "
    assert len(said) == len(lost) and all(re.match(named, line) for line in said)
    assert not running(first) and not running(second)


def silent_server_sessions(port: int) -> list[Any]:
    """Connections the silent server holds: counted from its side of the loopback (ss would do the same)."""
    out = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = f"0100007F:{port:04X}"
    return [line for line in out if line.split()[1] == local and line.split()[3] == "01"]


def test_ctrl_c_to_the_process_group_ends_the_run_and_its_children(servers: tuple[int, int]) -> None:
    silent, smtp = servers
    targets = [f"127.0.0.1:{smtp}/smtp", f"127.0.0.1:{silent}/smtp", f"127.0.0.1:{silent}/pop3"]
    process = mailprobe("handshake", *targets, "--timeout", "30", "--json", "--jobs", "2", start_new_session=True)
    wait_for(lambda: len(children(process.pid)) == 2)
    forked = children(process.pid)
    wait_for(lambda: len(silent_server_sessions(silent)) >= 2)
    time.sleep(1.0)  # the fast target's handshake takes milliseconds: it has long finished
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process of the group gets it
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True
    assert sorted(report["unfinished"]) == sorted(targets[1:])
    assert [(h["target"]["port"], h["status"]) for h in report["handshakes"]] == [(smtp, "success")]
    assert stderr.count("mailprobe: interrupted") == 1 and "Traceback" not in stderr
    assert not any(running(pid) for pid in forked)


def test_a_large_listed_run_forks_a_process_per_usable_core_by_default(
    servers: tuple[int, int], tmp_path: Path
) -> None:
    """No --jobs: 64 listed handshake targets run in as many processes as auto_jobs chooses for this machine
    (2 on CI's 2 cores; none forked on one core), ended together by Ctrl-C."""
    silent, _ = servers
    listed = tmp_path / "targets.txt"
    listed.write_text(f"127.0.0.1:{silent}/smtp\n" * 64)
    expected = auto_jobs("handshake", 64, usable_cores())
    before = len(silent_server_sessions(silent))  # other tests' sessions may linger on the shared server
    process = mailprobe("handshake", "-i", str(listed), "--timeout", "30", "--json", start_new_session=True)
    try:
        if expected > 1:
            wait_for(lambda: len(children(process.pid)) == expected)
        wait_for(lambda: len(silent_server_sessions(silent)) > before)  # probing: no more forks to come
        forked = children(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert len(forked) == (expected if expected > 1 else 0)
    assert process.returncode == 130, stderr
    assert json.loads(stdout)["interrupted"] is True
    assert not any(running(pid) for pid in forked)


def test_errors_name_the_line_of_the_target(servers: tuple[int, int], tmp_path: Path) -> None:
    _, smtp = servers
    listed = tmp_path / "targets.txt"
    listed.write_text(f"127.0.0.1:{smtp}/smtp\n# a comment\n127.0.0.1:99999\n127.0.0.1:{smtp}/smtp\n")
    ran = finished("handshake", "-i", str(listed), "--json", "--jobs", "2")
    assert ran.returncode == 2
    assert ran.stderr.startswith(f"mailprobe: error: {listed}:3: 127.0.0.1:99999: bad port 99999"), ran.stderr
    assert ran.stderr.count("\n") == 1


def test_the_status_line_shows_what_a_child_waits_for(servers: tuple[int, int]) -> None:
    silent, smtp = servers
    ran = run_in_pty(
        "handshake", f"127.0.0.1:{silent}/smtp", f"127.0.0.1:{smtp}/smtp", "--timeout", "3", "--jobs", "2",
        env=environment(ci=False),
    )  # fmt: skip
    assert re.search(rf"\[1/2\] 127\.0\.0\.1 {silent}: waiting for greeting \(\d\.\d s\)", ran.output), ran.output[:600]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--jobs", "-1"), "bad --jobs -1: give 1 to 64 processes, or 0 to let mailprobe choose"),
        (("--jobs", "65"), "bad --jobs 65: give 1 to 64 processes, or 0 to let mailprobe choose"),
        (
            ("--jobs", "2", "--cluster", "local:2"),
            "--jobs and --cluster exclude each other (a cluster's workers are its processes)",
        ),
    ],
)
def test_bad_values_are_one_line(args: tuple[str, ...], said: str) -> None:
    ran = finished("ports", "127.0.0.1", "127.0.0.2", "--ports", "1", *args)
    assert ran.returncode == 2
    assert ran.stderr == f"mailprobe: error: {said}\n"


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        (_frame(("report", 3, "r")), ("report", 3, "r")),
        (_frame(("report", 3, "r"))[:-2], None),  # cut short: the process died while writing
        (struct.pack("!I", 5) + b"\x80\x05garbage", None),  # not a pickle
        (b"\x00\x00", None),  # not even a header
    ],
)
async def test_a_frame_from_a_dying_process_ends_its_stream_not_the_run(sent: bytes, read: Any) -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(sent)
    reader.feed_eof()
    assert await _receive(reader) == read


@pytest.mark.parametrize(("command", "ended"), [("exit 3", "exit 3"), ("sleep 30", "SIGTERM")])
def test_a_child_is_reaped_after_its_grace_never_waited_for_forever(command: str, ended: str) -> None:
    """A child that leaves within its grace is reaped as it ended; one still running after it (its stream ended
    with an unreadable frame, say) is ended with SIGTERM."""
    process = subprocess.Popen(["sh", "-c", command])
    ours, theirs = socket.socketpair()
    child = _Child(process.pid, ours)
    started = time.monotonic()
    _end(child, started + 1.0)
    waited = time.monotonic() - started
    assert child.status is not None
    if ended == "SIGTERM":
        assert os.WIFSIGNALED(child.status) and os.WTERMSIG(child.status) == signal.SIGTERM and waited >= 1.0
    else:
        assert os.waitstatus_to_exitcode(child.status) == 3 and waited < 1.0
    ours.close()
    theirs.close()
    process.wait(timeout=5)  # already reaped: Popen takes that (ECHILD) as the end


def test_a_mailprobe_a_test_left_running_is_ended_after_it() -> None:
    """conftest's no_mailprobe_left: what processes.start began and a failed test did not end is killed."""
    from processes import end_started

    waiting = mailprobe("ports", "-i", "-", "--timeout", "1", stdin=subprocess.PIPE)  # reads targets for ever
    time.sleep(0.5)
    assert waiting.poll() is None
    assert end_started() == [waiting.pid]
    assert waiting.returncode == -signal.SIGKILL
    assert end_started() == []  # each process once
