"""ASCII decimal numbers in text from the wire or the user.

str.isdigit() is true for superscript two (U+00B2), which int() rejects, and for Arabic-Indic digits, which
int() reads as a number no protocol allows: every
"is this a number" test on outside text goes through is_decimal.
"""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """True for one or more of 0-9 and nothing else."""
    return text.isascii() and text.isdigit()
