"""ASCII decimal numbers in text from the wire or the user.

str.isdigit() is true for superscript two (U+00B2), which int() rejects, and for Arabic-Indic digits, which
int() reads as a number no protocol allows: every
"is this a number" test on outside text goes through is_decimal.

int() also refuses strings of more than 4300 digits (ValueError): a number from the wire is tested with a
bound (`max_digits`, MAX_DIGITS for sizes and counts) before int() ever sees it.
"""

from __future__ import annotations

MAX_DIGITS = 18  # any size or count a protocol carries; 10**18 - 1 fits in 63 bits


def is_decimal(text: str, max_digits: int | None = None) -> bool:
    """True for one or more of 0-9 and nothing else (and at most `max_digits` of them, when given)."""
    if max_digits is not None and len(text) > max_digits:
        return False
    return text.isascii() and text.isdigit()


def decimal_value(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """The number `text` spells in 1 to `max_digits` ASCII decimal digits; None for anything else."""
    return int(text) if is_decimal(text, max_digits) else None
