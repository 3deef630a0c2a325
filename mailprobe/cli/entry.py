"""The `mailprobe` program. Starting takes a moment (imports): Ctrl-C then is the same quiet exit 130 as
Ctrl-C later, never a traceback.

The program leaves with os._exit once its output is flushed: the interpreter's teardown (freeing every
module's objects, ~50 ms after a run that imported TLS and DNS libraries) does nothing a user needs, and an
import still running in a background thread (engine.import_meanwhile) is simply dropped with the process.
Runs on a Dask cluster, and runs under a profiler or a coverage tool, exit normally: their exit handlers
close what they started or write what they measured.
"""

from __future__ import annotations

import contextlib
import os
import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    try:
        from mailprobe.cli.app import main as run
    except KeyboardInterrupt:
        sys.stderr.write("mailprobe: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    try:
        run()
        code: object = 0
    except SystemExit as done:
        code = done.code
    leave(code)


def leave(code: object) -> None:
    """Flush stdout and stderr and end the process with `code` (SystemExit's meaning: None is 0, an int
    itself, anything else printed and 1), without the interpreter's teardown."""
    if "distributed" in sys.modules or sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(code)  # a cluster's, a profiler's or a coverage tool's exit handlers must run
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`): the reader took enough
            stream.flush()
    os._exit(status)
