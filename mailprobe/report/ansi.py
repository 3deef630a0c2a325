"""The few ANSI colours the terminal renderers use, applied only when asked (color=True).

Only this module writes escape sequences; the text they wrap has already been through terminal_safe.
"""

from __future__ import annotations

from mailprobe.model import Severity

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
RED = "\x1b[31m"
BOLD_RED = "\x1b[1;31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
MAGENTA = "\x1b[35m"
CYAN = "\x1b[36m"
DIM = "\x1b[2m"

SEVERITY_COLOUR = {
    Severity.CRITICAL: BOLD_RED,
    Severity.HIGH: RED,
    Severity.MEDIUM: YELLOW,
    Severity.LOW: CYAN,
    Severity.INFO: DIM,
}


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{colour}{text}{RESET}" if enabled and text else text
