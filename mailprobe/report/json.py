"""The JSON format: to_jsonable (see serialize.py) pretty-printed.

Indent 2; keys in a fixed order (schema_version first, then model order), never re-sorted, because the order
of `meta`/`facts` entries is data. ASCII only: every non-ASCII or control character is a \\u escape, so a
hostile string cannot act on a terminal that shows the file.

The text is exactly `json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False)`'s, written by `pretty`:
with an indent the standard library encodes in pure Python through a generator per value, 0.4 s for the
3 MB report of a 64-host handshake run; `pretty` appends to one list and takes a third of that. Anything it
does not expect (a non-string key, a value of another type, a non-finite float) goes to json.dumps, which
then says what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from mailprobe.model import Report
from mailprobe.report.serialize import jsonable, to_jsonable

INDENT = "  "


# The results a run's report concatenates from its targets' reports as they are (engine.merge); its findings
# are grouped across targets, so they are written at the end.
GROUPS = ("dns", "ports", "handshakes")
_ITEM_LEVEL = 2  # a result's depth in the document: top-level object, its array, the result


def render(report: Report) -> str:
    return pretty(to_jsonable(report)) + "\n"


@dataclass(frozen=True, slots=True)
class _Text:
    """JSON text already written, taken as it is."""

    text: str


class Prerendered:
    """The JSON format written as a run goes: each target's results are encoded and pretty-printed when its
    report arrives, during the run, so the end of a 64-host handshake run joins 3 MB of text (~0.02 s)
    instead of encoding it after the last answer (~0.2 s, timed). `render(report)` gives exactly `render`'s
    text for a report made of the reports added (merged), whatever else it holds."""

    def __init__(self) -> None:
        self._texts: dict[int, tuple[object, str]] = {}  # id -> (the result, kept alive to keep its id), its text

    def add(self, report: Report) -> None:
        for key in GROUPS:
            for item in getattr(report, key):
                parts: list[str] = []
                try:
                    _write(jsonable(item), _ITEM_LEVEL, parts.append)
                except (_Unexpected, RecursionError):
                    continue  # left to the end, where render() deals with it
                self._texts[id(item)] = (item, "".join(parts))

    def render(self, report: Report) -> str:
        given: dict[str, list[Any]] = {}
        for key in GROUPS:
            given[key] = written = []
            for item in getattr(report, key):
                found = self._texts.get(id(item))
                if found is None or found[0] is not item:
                    return render(report)  # a result not added: nothing to take
                written.append(_Text(found[1]))
        parts: list[str] = []
        try:
            _write(to_jsonable(report, given), 0, parts.append)
        except (_Unexpected, RecursionError):
            return render(report)
        return "".join(parts) + "\n"


class _Unexpected(Exception):
    """A value `pretty` leaves to json.dumps."""


def pretty(value: Any) -> str:
    """json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False), faster."""
    parts: list[str] = []
    try:
        _write(value, 0, parts.append)
    except (_Unexpected, RecursionError):
        return json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False)
    return "".join(parts)


def _write(value: Any, level: int, append: Any) -> None:
    kind = type(value)
    if kind is str:
        append(encode_basestring_ascii(value))
    elif kind is dict:
        if not value:
            append("{}")
            return
        inner = "\n" + INDENT * (level + 1)
        separator = "{"
        for key, item in value.items():
            if type(key) is not str:
                raise _Unexpected
            append(separator + inner)
            separator = ","
            append(encode_basestring_ascii(key))
            append(": ")
            _write(item, level + 1, append)
        append("\n" + INDENT * level + "}")
    elif kind is list:
        if not value:
            append("[]")
            return
        inner = "\n" + INDENT * (level + 1)
        separator = "["
        for item in value:
            append(separator + inner)
            separator = ","
            _write(item, level + 1, append)
        append("\n" + INDENT * level + "]")
    elif kind is _Text:
        append(value.text)
    elif value is None:
        append("null")
    elif value is True:
        append("true")
    elif value is False:
        append("false")
    elif kind is int:
        append(int.__repr__(value))
    elif kind is float and math.isfinite(value):
        append(float.__repr__(value))
    else:
        raise _Unexpected
