"""The JSON format: to_jsonable (see serialize.py) pretty-printed.

Indent 2; keys in a fixed order (schema_version first, then model order), never re-sorted, because the order
of `meta`/`facts` entries is data. ASCII only: every non-ASCII or control character is a \\u escape, so a
hostile string cannot act on a terminal that shows the file.
"""

from __future__ import annotations

import json

from mailprobe.model import Report
from mailprobe.report.serialize import to_jsonable


def render(report: Report) -> str:
    return json.dumps(to_jsonable(report), indent=2, ensure_ascii=True, allow_nan=False) + "\n"
