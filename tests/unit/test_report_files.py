"""files.py: report directories with timestamped sets, safe names and an index."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from samples import hostile_report, sample_report

from mailprobe.report.files import SLUG_MAX, slug, write_index, write_report_dir
from mailprobe.report.serialize import report_from_jsonable

NOW = datetime(2026, 9, 30, 12, 0, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["example.com"], "example.com"),
        (["Example.COM", "mx.example.org"], "example.com_mx.example.org"),
        ([], "report"),
    ],
)
def test_readable_slugs_stay_readable(targets: list[str], expected: str) -> None:
    assert slug(targets) == expected


@pytest.mark.parametrize(
    "target",
    [
        "../../etc",
        "a/b",
        "..",
        ".",
        "/etc/passwd",
        "C:\\windows",
        "x" * 400,
        "b\u00fccher.example",
        "\u65e5\u672c",
        "a\x00b",
        "-rf",
        "a..b",
        "\u202eevil",
        "con",
        ".",
    ],
)
def test_hostile_targets_give_safe_bounded_names(target: str) -> None:
    name = slug([target])
    assert name and len(name) <= SLUG_MAX + 9
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789._-")
    assert ".." not in name and not name.startswith((".", "-"))


def test_lossy_slugs_do_not_collide() -> None:
    assert slug(["a/b"]) != slug(["a-b"]) != slug(["a b"])
    assert slug(["x" * 400]) != slug(["x" * 401])


def test_write_report_dir_writes_a_set_and_an_index(tmp_path: Path) -> None:
    written = write_report_dir(sample_report(), tmp_path / "reports", now=NOW)
    names = [p.name for p in written]
    assert names == [
        "20260930T120005Z-example.com.json",
        "20260930T120005Z-example.com.md",
        "20260930T120005Z-example.com.html",
        "index.html",
        "index.md",
    ]
    data = json.loads(written[0].read_text(encoding="utf-8"))
    assert report_from_jsonable(data) == sample_report()
    assert "| 2026-09-30 12:00:05 UTC | audit | example.com | high | 5 |" in written[4].read_text(encoding="utf-8")
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")]  # no temp files left


def test_same_second_gets_a_new_name_and_the_index_lists_both_newest_first(tmp_path: Path) -> None:
    first = write_report_dir(sample_report(), tmp_path, now=NOW)
    second = write_report_dir(sample_report(), tmp_path, now=NOW)
    later = write_report_dir(replace(sample_report(), targets=("example.org",)), tmp_path, now=NOW + timedelta(1))
    assert second[0].name == "20260930T120005Z-example.com-2.json"
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    rows = [line for line in index.splitlines() if line.startswith("| 2026")]
    assert len(rows) == 3
    assert "example.org" in rows[0]
    assert first[0].read_text(encoding="utf-8") == second[0].read_text(encoding="utf-8")
    assert later[0].name.startswith("20261001T120005Z-")


def test_hostile_targets_stay_inside_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    inside = tmp_path / "a" / "b"
    report = replace(hostile_report(), targets=("../../outside/x", "/etc/passwd", "\u202e\x00"))
    written = write_report_dir(report, inside, now=NOW)
    assert all(p.parent == inside for p in written)
    assert not outside.exists()
    assert all(len(p.name.encode()) < 255 for p in written)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def test_index_html_links_every_file_and_escapes_report_data(tmp_path: Path) -> None:
    write_report_dir(hostile_report(), tmp_path, now=NOW)
    write_report_dir(sample_report(), tmp_path, now=NOW + timedelta(seconds=1))
    parser = _Links()
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    parser.feed(page)
    assert "script" not in parser.tags
    assert len(parser.hrefs) == 6
    assert all((tmp_path / href).is_file() for href in parser.hrefs)


def test_index_survives_an_unreadable_report_and_ignores_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "20260101T000000Z-broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "notes.json").write_text("{}", encoding="utf-8")
    (tmp_path / "20260101T000000Z-<b>.json").write_text("{}", encoding="utf-8")
    write_index(tmp_path)
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert "(unreadable report)" in index
    assert "notes" not in index and "<b>" not in index


def test_naive_now_is_taken_as_utc(tmp_path: Path) -> None:
    written = write_report_dir(sample_report(), tmp_path, now=datetime(2026, 1, 2, 3, 4, 5))
    assert written[0].name.startswith("20260102T030405Z-")
