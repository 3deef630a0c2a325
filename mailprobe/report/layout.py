"""Laying text out in a fixed number of columns without splitting a word: paragraphs, tables, key-value lists.

A word is never cut unless it is longer than LONG_TOKEN characters (a key, a fingerprint, base64): those
alone may be cut at the edge, since no width would hold them. Every finding code, host name and ordinary word
is shorter. Tables that cannot give each column its longest word fall back to one paragraph per row.
Text given here is already safe (escaped by the caller); ANSI colour codes in it do not count as width.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence

from tabulate import tabulate

LONG_TOKEN = 40  # words longer than this may be cut; shorter ones never are
GAP = 2  # spaces between columns
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def visible_len(line: str) -> int:
    return len(_ANSI.sub("", line))


def natural_width(cell: str) -> int:
    return max((visible_len(line) for line in cell.split("\n")), default=0)


def longest_word(cell: str) -> int:
    """The longest word that must not be cut (longer ones may be)."""
    words = (visible_len(w) for w in cell.split())
    return max((n for n in words if n <= LONG_TOKEN), default=0)


def wrap_lines(text: str, width: int, indent: str = "", hang: str = "") -> list[str]:
    """Each line of `text` wrapped to `width` (indent included); words move whole to the next line."""
    out: list[str] = []
    for line in text.split("\n"):
        wrapped = textwrap.wrap(
            line,
            max(width, len(indent) + 1, len(hang) + 1),
            initial_indent=indent,
            subsequent_indent=hang,
            break_on_hyphens=False,
            break_long_words=True,
        )
        out.extend(wrapped or [indent.rstrip()])
    return out


def fill(text: str, width: int, indent: str = "", hang: int = 4) -> str:
    """A free-standing paragraph; continuation lines hang `hang` spaces deeper."""
    return "\n".join(wrap_lines(text, width, indent, indent + " " * hang))


def _wrap_cell(cell: str, width: int) -> str:
    if natural_width(cell) <= width:
        return cell
    return "\n".join(wrap_lines(cell, width))


def _caps(natural: list[int], floor: list[int], budget: int) -> list[int] | None:
    """Column widths fitting `budget`, the widest capped first (water-filling), each at least its floor;
    None when even the floors do not fit."""
    if sum(floor) > budget:
        return None
    if sum(max(n, f) for n, f in zip(natural, floor, strict=True)) <= budget:
        return [max(n, f) for n, f in zip(natural, floor, strict=True)]

    def total(cap: int) -> int:
        return sum(max(min(n, cap), f) for n, f in zip(natural, floor, strict=True))

    low, high = 1, max(natural)
    while low < high:  # the largest cap whose capped widths still fit
        mid = (low + high + 1) // 2
        if total(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return [max(min(n, low), f) for n, f in zip(natural, floor, strict=True)]


def table(
    headers: Sequence[str],
    rows: list[list[str]],
    width: int,
    indent: int = 2,
    paragraph: Callable[[list[str]], str] | None = None,
) -> str:
    """A headed table in `width` columns; when its columns cannot each hold their longest word, one
    paragraph per row instead: `paragraph(row)`, by default "first  header: value; header: value"."""
    pad = " " * indent
    columns = len(headers)
    natural = [max([natural_width(row[i]) for row in rows] + [len(headers[i])]) for i in range(columns)]
    # tabulate makes a headed column at least its header plus 2 wide (its MIN_PADDING)
    floor = [max(len(h) + 2, *(longest_word(row[i]) for row in rows)) for i, h in enumerate(headers)]
    caps = _caps(natural, floor, width - indent - GAP * (columns - 1))
    if caps is None:
        return "\n".join(_stacked(headers, rows, width, indent, paragraph))
    wrapped = [[_wrap_cell(cell, cap) for cell, cap in zip(row, caps, strict=True)] for row in rows]
    text = tabulate(wrapped, headers=list(headers), tablefmt="simple", disable_numparse=True)
    return textwrap.indent(text, pad, lambda line: True)


def _stacked(
    headers: Sequence[str],
    rows: list[list[str]],
    width: int,
    indent: int,
    paragraph: Callable[[list[str]], str] | None,
) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for row in rows:
        if paragraph is not None:
            text = paragraph(row)
        else:
            first, *rest = (cell.replace("\n", ", ") for cell in row)
            parts = [f"{header}: {cell}" for header, cell in zip(headers[1:], rest, strict=True) if cell.strip()]
            text = first + "  " + "; ".join(parts)
        out.extend(wrap_lines(text.rstrip(), width, pad + "- ", pad + "    "))
    return out


def key_values(rows: Sequence[tuple[str, str]], width: int, indent: int = 2, max_label: int = 24) -> str:
    """Label and value side by side; a value whose words do not fit beside the label goes under it."""
    pad = " " * indent
    label_width = min(max((visible_len(label) for label, _ in rows), default=0), max_label)
    value_at = indent + label_width + GAP
    room = width - value_at
    out: list[str] = []
    for label, value in rows:
        beside = visible_len(label) <= label_width and room >= 20 and longest_word(value) <= room
        if beside:
            lines = wrap_lines(value, room) if value else [""]
            head = pad + label + " " * (label_width - visible_len(label) + GAP)
            out.append((head + lines[0]).rstrip())
            out.extend((" " * value_at + line).rstrip() for line in lines[1:])
        else:
            out.extend(wrap_lines(label, width, pad, pad + "    "))
            out.extend(wrap_lines(value, width, pad + "    ", pad + "    "))
    return "\n".join(out)
