"""`python -m mailprobe` on a real pseudo-terminal: its stdout and stderr are the terminal, as for a person."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Ran:
    code: int
    output: str  # everything the terminal received, decoded, CRLF as LF, escapes kept


def run_in_pty(
    *args: str,
    columns: int = 100,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    on_output: Callable[[str, subprocess.Popen[bytes]], None] | None = None,
) -> Ran:
    """Run mailprobe ARGS on a terminal `columns` wide; `on_output(text so far, process)` is called as output
    arrives (to send a signal at the right moment)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "mailprobe", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env if env is not None else dict(os.environ),
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
            if on_output is not None and process.poll() is None:
                on_output(b"".join(chunks).decode("utf-8", "replace"), process)
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        os.close(master)
    return Ran(code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"))


def environment(*, ci: bool) -> dict[str, str]:
    """This environment without COLUMNS/LINES, with CI set or unset, colours off."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "CI")}
    env["NO_COLOR"] = "1"
    env["TERM"] = "xterm-256color"
    if ci:
        env["CI"] = "true"
    return env
