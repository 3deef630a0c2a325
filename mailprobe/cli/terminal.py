"""How wide the terminal output is: COLUMNS, else the terminal's size, else a default when piped; at least 60.

Every command that lays text out for people (the table format, `findings`, `profiles`, `explain`) asks here.
"""

from __future__ import annotations

import os
import sys

from mailprobe.decimal_text import is_decimal

DEFAULT_WIDTH = 100  # piped or redirected, without COLUMNS
MIN_WIDTH = 60  # narrower terminals get 60 columns and wrap


def terminal_width(*, to_terminal: bool = True) -> int:
    """COLUMNS when set to a number; else the size of the terminal standard output is, when it is one (and
    `to_terminal`, i.e. the text goes there); else DEFAULT_WIDTH. Never below MIN_WIDTH."""
    columns = os.environ.get("COLUMNS", "").strip()
    if is_decimal(columns) and int(columns) > 0:
        return max(MIN_WIDTH, int(columns))
    if to_terminal:
        try:
            size = os.get_terminal_size(sys.__stdout__.fileno()) if sys.__stdout__ is not None else None
        except (OSError, ValueError):
            size = None
        if size is not None and size.columns > 0:
            return max(MIN_WIDTH, size.columns)
    return DEFAULT_WIDTH
