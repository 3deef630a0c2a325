"""The status line, through a real pseudo-terminal: a run that takes more than a second says which target,
which stage and what it waits for, with the time; never in a pipe, never with CI set; erased at the end."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hostile_server import HostileMode, HostileServer
from ptyrun import environment, run_in_pty
from threaded import serving

from mailprobe.demo.smtp_server import SmtpServer

WAITING = re.compile(r"127\.0\.0\.1 (\d+): waiting for greeting \((\d+\.\d) s\)")


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    """A server that never greets, and one that does at once."""
    with serving(HostileServer(HostileMode.SILENT, lifetime=20), SmtpServer(None)) as [silent, smtp]:
        yield silent, smtp


def test_a_single_target_shows_what_it_waits_for_and_for_how_long(ports: tuple[int, int]) -> None:
    silent, _ = ports
    ran = run_in_pty("handshake", f"127.0.0.1:{silent}/smtp", "--timeout", "3", env=environment(ci=False))
    shown = [(int(port), float(seconds)) for port, seconds in WAITING.findall(ran.output)]
    assert shown, ran.output[:500]
    assert {port for port, _ in shown} == {silent}
    seconds = [s for _, s in shown]
    assert seconds == sorted(seconds) and seconds[0] < 1.5 and seconds[-1] >= 2.5  # it counts up, live
    assert "[0/1]" not in ran.output  # one target: no count
    assert ran.output.rstrip().endswith("Summary: 1 high (worst: high); 0/1 handshakes succeeded")
    report = ran.output[ran.output.rindex("mailprobe handshake:") :]
    assert "waiting for" not in report  # the line was erased before the report was written


def test_several_targets_show_the_count_and_the_longest_wait(ports: tuple[int, int]) -> None:
    silent, smtp = ports
    ran = run_in_pty(
        "handshake", f"127.0.0.1:{silent}/smtp", f"127.0.0.1:{smtp}/smtp", "--timeout", "3", env=environment(ci=False)
    )
    assert re.search(rf"\[1/2\] 127\.0\.0\.1 {silent}: waiting for greeting \(\d\.\d s\)", ran.output), ran.output[:600]


def test_an_identification_says_so(ports: tuple[int, int]) -> None:
    silent, _ = ports
    ran = run_in_pty("handshake", f"127.0.0.1:{silent}", "--timeout", "2", env=environment(ci=False))
    assert re.search(rf"127\.0\.0\.1 {silent} \(which service\?\): waiting for greeting \(1\.\d s\)", ran.output)


def test_nothing_with_ci_set_or_when_piped(ports: tuple[int, int]) -> None:
    silent, _ = ports
    args = ("handshake", f"127.0.0.1:{silent}/smtp", "--timeout", "2")
    in_ci = run_in_pty(*args, env=environment(ci=True))
    assert "waiting for" not in in_ci.output and "\x1b[?25l" not in in_ci.output
    assert "Summary:" in in_ci.output
    piped = subprocess.run(
        [sys.executable, "-m", "mailprobe", *args],
        capture_output=True,
        text=True,
        env=environment(ci=False),
        timeout=60,
    )
    assert piped.stderr == "" and "\x1b" not in piped.stdout and "Summary:" in piped.stdout
