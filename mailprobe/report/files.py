"""A report directory (`--report DIR`): timestamped report sets (JSON + Markdown + HTML) and an index.

File names are `<UTC stamp>-<slug>.<ext>`, the slug made from the targets with only [a-z0-9._-], no "..",
at most SLUG_MAX characters, and a short hash of the targets whenever the slug had to drop or change
anything (unicode, "/", "..", length), so a target can never name a path outside the directory or collide
with another target's slug. `index.html` and `index.md` list every report set in the directory, newest first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from mailprobe.model import Report
from mailprobe.report.escape import html_safe, markdown_cell

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SLUG_MAX = 60
_SET_NAME = re.compile(r"^(\d{8}T\d{6}Z)-([a-z0-9._-]+)\.json$")


def slug(targets: Sequence[str]) -> str:
    """A file-name-safe, bounded, collision-resistant name for a list of targets."""
    plain = "_".join(t.lower() for t in targets)
    ascii_only = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9._]+", "-", ascii_only)
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"([-_])[-_.]+", r"\1", text).strip(".-_")
    lossy = text != plain or len(text) > SLUG_MAX
    text = text[:SLUG_MAX].rstrip(".-_") or "report"
    if lossy:
        digest = hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = f"{text}-{digest}"
    return text


def _stamp(now: datetime | None) -> str:
    moment = now or datetime.now(timezone.utc)
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.strftime(STAMP_FORMAT)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_report_dir(report: Report, directory: Path, now: datetime | None = None) -> list[Path]:
    """Write `<stamp>-<slug>.json/.md/.html` and refresh index.html + index.md; returns the paths written."""
    from mailprobe.report import html, markdown  # here: write_atomic's callers need neither
    from mailprobe.report import json as json_format

    directory.mkdir(parents=True, exist_ok=True)
    base = f"{_stamp(now)}-{slug(report.targets)}"
    name, number = base, 1
    while any((directory / f"{name}.{ext}").exists() for ext in ("json", "md", "html")):
        number += 1
        name = f"{base}-{number}"
    written = []
    for ext, text in (
        ("json", json_format.render(report)),
        ("md", markdown.render(report)),
        ("html", html.render(report, transcript=True)),
    ):
        path = directory / f"{name}.{ext}"
        write_atomic(path, text)
        written.append(path)
    written += write_index(directory)
    return written


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str  # file name without extension
    stamp: str
    command: str
    targets: str
    worst: str
    findings: str
    extensions: tuple[str, ...]


def _read_entry(directory: Path, name: str, stamp: str) -> _Entry:
    extensions = tuple(ext for ext in ("html", "md", "json") if (directory / f"{name}.{ext}").exists())
    try:
        data = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        summary = data["summary"]
        targets = ", ".join(str(t) for t in data["targets"])
        return _Entry(
            name,
            stamp,
            str(data["command"]),
            targets,
            str(summary["worst"] or "none"),
            str(summary["findings"]),
            extensions,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return _Entry(name, stamp, "?", "(unreadable report)", "?", "?", extensions)


def _entries(directory: Path) -> list[_Entry]:
    found = [(m.group(1), p.name[: -len(".json")]) for p in directory.iterdir() if (m := _SET_NAME.match(p.name))]
    return [_read_entry(directory, name, stamp) for stamp, name in sorted(found, reverse=True)]


def _when(stamp: str) -> str:
    moment = datetime.strptime(stamp, STAMP_FORMAT)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def write_index(directory: Path) -> list[Path]:
    """Rewrite index.html and index.md from the report sets present in `directory`."""
    from mailprobe.report import html

    entries = _entries(directory)
    rows_html = []
    rows_md = []
    for e in entries:
        links_html = " ".join(f'<a href="{html_safe(quote(f"{e.name}.{x}"))}">{x}</a>' for x in e.extensions)
        cells = (e.command, e.targets, e.worst, e.findings)
        rows_html.append(
            f"<tr><td>{_when(e.stamp)}</td>"
            + "".join(f"<td>{html_safe(c)}</td>" for c in cells)
            + f"<td>{links_html}</td></tr>"
        )
        links_md = " ".join(f"[{x}]({quote(f'{e.name}.{x}')})" for x in e.extensions)
        rows_md.append(f"| {_when(e.stamp)} | " + " | ".join(markdown_cell(c) for c in cells) + f" | {links_md} |")
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{html.CSP}">',
            "<title>mailprobe reports</title>",
            f"<style>{html.CSS}</style></head><body>",
            "<h1>mailprobe reports</h1>",
            "<table><tr><th>When</th><th>Command</th><th>Targets</th><th>Worst</th><th>Findings</th>"
            "<th>Files</th></tr>",
            *rows_html,
            "</table>",
            "</body></html>",
            "",
        ]
    )
    text = "\n".join(
        [
            "# mailprobe reports",
            "",
            "| When | Command | Targets | Worst | Findings | Files |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows_md,
            "",
        ]
    )
    index_html, index_md = directory / "index.html", directory / "index.md"
    write_atomic(index_html, page)
    write_atomic(index_md, text)
    return [index_html, index_md]
