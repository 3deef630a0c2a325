"""`mailprobe` as a process of its own, for the tests that signal it, kill its children or feed it input."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Any

_STARTED: list[subprocess.Popen[str]] = []


def start(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """`python -m mailprobe ARGS`, its output captured as text, CI unset (so as a person runs it)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mailprobe", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,
    )
    _STARTED.append(process)
    return process


def end_started() -> list[int]:
    """Kill, by PID, every process start() began that still runs (a test that failed before it ended its own);
    their forked workers follow them (PR_SET_PDEATHSIG). The PIDs killed."""
    killed = []
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            killed.append(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)  # reaped, its pipes closed
    return killed
