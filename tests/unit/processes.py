"""`mailprobe` as a process of its own, for the tests that signal it, kill its children or feed it input."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any


def start(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """`python -m mailprobe ARGS`, its output captured as text, CI unset (so as a person runs it)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.Popen(
        [sys.executable, "-m", "mailprobe", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,
    )
