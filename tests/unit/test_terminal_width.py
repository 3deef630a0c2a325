"""The terminal width, through a real pseudo-terminal: output follows the TTY's size (down to 60 columns),
COLUMNS, or 100 when piped, and never splits a word or a finding code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import ptyrun
import pytest

from mailprobe.checks.defs import all_codes
from mailprobe.report.layout import LONG_TOKEN

ANSI = re.compile(r"\x1b\[[0-9;]*m")
WIDTHS = (60, 80, 120)


def run_in_pty(columns: int, *args: str, timeout: float = 60, ci: bool = True) -> str:
    """`python -m mailprobe ARGS` on a terminal `columns` wide (COLUMNS unset); what it printed, colours removed.
    `ci=False` unsets CI, so the progress line shows."""
    ran = ptyrun.run_in_pty(*args, columns=columns, env=ptyrun.environment(ci=ci), timeout=timeout)
    assert ran.code in (0, 1, 2), ran.output[-2000:]
    return ANSI.sub("", ran.output)


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def tokens(text: str) -> set[str]:
    return set(re.split(r"[\s,;()\[\]]+", text))


@pytest.fixture(scope="module")
def demo_codes() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mailprobe", "demo", "--json"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    report = json.loads(out)
    return {f["code"] for f in report["findings"]} | {"mx.demo.mailprobe.test", "demo.mailprobe.test"}


@pytest.mark.parametrize("columns", WIDTHS)
def test_the_demo_table_fits_the_terminal_without_splitting_codes(columns: int, demo_codes: set[str]) -> None:
    out = run_in_pty(columns, "demo", "--transcript")
    assert widest(out) <= columns
    assert demo_codes <= tokens(out), demo_codes - tokens(out)
    if columns >= 100:
        assert widest(out) > 80  # it uses the room it has


@pytest.mark.parametrize("columns", WIDTHS)
def test_findings_fits_and_shows_every_code_whole(columns: int) -> None:
    out = run_in_pty(columns, "findings")
    assert widest(out) <= columns
    assert set(all_codes()) <= tokens(out)


@pytest.mark.parametrize("columns", WIDTHS)
def test_profiles_and_explain_fit_without_splitting_words(columns: int) -> None:
    assert widest(run_in_pty(columns, "profiles")) <= columns
    for code in ("SMTP-OPEN-RELAY", "MTA-STS-MX-MISMATCH", "SPF-VOID-LOOKUPS"):
        kind = all_codes()[code]
        out = run_in_pty(columns, "explain", code)
        assert widest(out) <= columns
        words = {w for w in tokens(kind.why + " " + kind.fix + " " + kind.example) if len(w) <= LONG_TOKEN}
        assert words <= tokens(out), words - tokens(out)


def test_a_narrower_terminal_gets_60_columns() -> None:
    assert 55 < widest(run_in_pty(40, "findings")) <= 60


def test_piped_output_is_100_columns_unless_columns_says_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    piped = subprocess.run(
        [sys.executable, "-m", "mailprobe", "findings"], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert 90 < widest(piped) <= 100
    narrow = subprocess.run(
        [sys.executable, "-m", "mailprobe", "findings"],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "COLUMNS": "72"},
    ).stdout
    assert widest(narrow) <= 72


def test_the_progress_line_shows_targets_escaped(tmp_path: Path) -> None:
    """On a terminal the progress line echoes each target: a target file cannot put escapes on the screen."""
    targets = tmp_path / "targets.txt"
    targets.write_bytes(b"\x1b[31mred\x1b]0;title\x07\n127.0.0.1:99999\n")
    out = run_in_pty(80, "ports", "-i", str(targets), "--json", ci=False)
    assert "\\x1b[31mred" in out  # shown, escaped
    assert "\x1b" not in out.replace("\x1b[K", "") and "\x07" not in out  # only our own erase-line
