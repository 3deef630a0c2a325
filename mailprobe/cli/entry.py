"""The `mailprobe` program. Starting takes a moment (imports): Ctrl-C then is the same quiet exit 130 as
Ctrl-C later, never a traceback."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    try:
        from mailprobe.cli.app import main as run
    except KeyboardInterrupt:
        sys.stderr.write("mailprobe: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    run()
