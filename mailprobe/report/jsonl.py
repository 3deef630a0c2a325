"""The JSONL format: one compact JSON object per line, written as results become known (streamable).

Line types, in order (every line has a "type"):
- "run": the first line of a report. schema_version, tool_version, command, targets, started_at, profile,
  meta, context. A file may hold several reports (shards appended one after another): each starts with a "run" line.
- "target": one per target group (a domain or a host, see grouping.py): "target" (the group key), "dns",
  "ports", "handshakes", "findings" (arrays of the objects the JSON format uses).
- "egress": the egress result, when the run had one: "egress".
- "summary": the last line: elapsed_ms, errors, checks (every check that ran), interrupted, unfinished, retried
  (--cluster: targets run again after a worker died), and the derived "summary" object of the JSON format.
Values are encoded exactly as in the JSON format (serialize.py), so `read_jsonl` is lossless up to the order
of results, which are regrouped per target.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from mailprobe.errors import UsageError
from mailprobe.model import Report
from mailprobe.report.grouping import group_by_target
from mailprobe.report.serialize import report_from_jsonable, to_jsonable

RUN_KEYS = ("schema_version", "tool_version", "command", "targets", "started_at", "profile", "meta", "context")
GROUP_KEYS = ("dns", "ports", "handshakes", "findings")
END_KEYS = ("elapsed_ms", "errors", "checks", "interrupted", "unfinished", "retried", "summary")


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def jsonl_lines(report: Report) -> Iterator[str]:
    """The lines (without newline) of one report: run, target..., [egress], summary."""
    whole = to_jsonable(report)  # every result encoded once; a target line takes its group's share of these
    encoded: dict[int, Any] = {}
    for key in GROUP_KEYS:
        encoded.update(zip(map(id, getattr(report, key)), whole[key], strict=True))
    yield _line({"type": "run", **{key: whole[key] for key in RUN_KEYS}})
    for group in group_by_target(report):
        shares = {key: [encoded[id(item)] for item in getattr(group, key)] for key in GROUP_KEYS}
        yield _line({"type": "target", "target": group.key, **shares})
    if report.egress is not None:
        yield _line({"type": "egress", "egress": whole["egress"]})
    yield _line({"type": "summary", **{key: whole[key] for key in END_KEYS}})


def render(report: Report) -> str:
    return "".join(line + "\n" for line in jsonl_lines(report))


def read_jsonl(lines: Iterable[str]) -> list[Report]:
    """Every report in a JSONL stream (one per "run" line); a UsageError naming the line when it is bad."""
    reports: list[Report] = []
    current: dict[str, Any] | None = None
    number = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        obj = _parse(raw, number)
        kind = obj.get("type")
        if kind == "run":
            if current is not None:
                raise UsageError(f"line {number}: a new run starts before the previous one's summary line")
            current = {key: obj.get(key) for key in RUN_KEYS if key in obj}
            current.update({key: [] for key in GROUP_KEYS})
            continue
        if current is None:
            raise UsageError(f"line {number}: {kind!r} line before any run line")
        if kind == "target":
            for key in GROUP_KEYS:
                items = obj.get(key, [])
                if not isinstance(items, list):
                    raise UsageError(f"line {number}: {key!r} is not an array")
                current[key].extend(items)
        elif kind == "egress":
            current["egress"] = obj.get("egress")
        elif kind == "summary":
            current.update({key: obj[key] for key in END_KEYS if key in obj and key != "summary"})
            try:
                reports.append(report_from_jsonable(current))
            except UsageError as exc:
                raise UsageError(f"line {number}: {exc}") from None
            current = None
        else:
            raise UsageError(f"line {number}: unknown line type {kind!r}")
    if current is not None:
        raise UsageError(f"line {number}: the last run has no summary line (truncated file?)")
    return reports


JSON_REPORT = "a --format json report (one JSON document), not JSONL: merge reads what --format jsonl runs wrote"


def _parse(raw: str, number: int) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        if number == 1 and raw.strip() in ("{", "["):  # an indented JSON document starts so: --format json
            raise UsageError(f"line {number}: {JSON_REPORT}") from None
        raise UsageError(f"line {number}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise UsageError(f"line {number}: not a JSON object")
    if "type" not in obj:  # e.g. a --format json report, which is one object without line types
        if "schema_version" in obj and "summary" in obj:
            raise UsageError(f"line {number}: {JSON_REPORT}")
        raise UsageError(f"line {number}: no \"type\": not a line of mailprobe's JSONL (--format jsonl)")
    return obj
