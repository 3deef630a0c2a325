"""`mailprobe merge SHARD.jsonl...`: combine sharded JSONL runs into one report, in the original target order."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailprobe.cli import common as c
from mailprobe.cli import options as o
from mailprobe.decimal_text import is_decimal
from mailprobe.errors import UsageError


def register(app: typer.Typer) -> None:
    o.command(
        app,
        "merge",
        o.MERGE,
        summary="Combine the JSONL files of --shard I/N runs into one report.",
        defaults={"fmt": "json"},
    )(merge)


def _index(report: object) -> int:
    for key, value in getattr(report, "meta", ()):
        if key == "index" and is_decimal(value):
            return int(value)
    return 0


def merge(
    opts: o.Options,
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="JSONL files written by `--format jsonl` runs ('-' for stdin)."),
    ],
) -> None:
    """Merge JSONL shards (`--shard I/N` runs) into one report, as if it had been one run."""
    import sys
    from dataclasses import replace

    from mailprobe.engine import merge as merge_reports
    from mailprobe.report.jsonl import read_jsonl

    out = opts.output()
    reports = []
    for path in files:
        try:
            lines = sys.stdin.readlines() if str(path) == "-" else path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        try:
            reports.extend(read_jsonl(lines))
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None
    if not reports:
        raise UsageError("nothing to merge: the files hold no reports")
    reports.sort(key=_index)
    commands = {r.command for r in reports}
    merged = merge_reports(reports, commands.pop() if len(commands) == 1 else "merge", reports[0].profile)
    merged = replace(merged, meta=())
    raise typer.Exit(c.emit(merged, out))
