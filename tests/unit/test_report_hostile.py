"""A report whose every server-supplied field is hostile: every format stays safe and valid."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from samples import HOSTILE, hostile_report

from mailprobe.report import FORMATS, render
from mailprobe.report.nagios import nagios_status
from mailprobe.report.serialize import report_from_jsonable

SGR = re.compile(r"\x1b\[[0-9;]*m")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _acting_characters(text: str) -> list[str]:
    """Characters that would act on a terminal or reorder text, other than line feeds."""
    return [
        ch
        for ch in text
        if ch != "\n" and (unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") or ord(ch) in (0xFFFE, 0xFFFF))
    ]


def test_the_hostile_sample_is_hostile() -> None:
    for needle in ("\x1b[", "<script>", "`", "|", "\x00", "]]>", "\u202e", "\x9b", "\r"):
        assert needle in HOSTILE
    transcript = hostile_report().handshakes[0].transcript[0].data
    with pytest.raises(UnicodeDecodeError):
        transcript.decode("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("transcript", [False, True])
def test_no_format_lets_a_control_character_through(fmt: str, transcript: bool) -> None:
    out = render(hostile_report(), fmt, transcript=transcript)
    assert _acting_characters(out) == []
    out.encode("utf-8")  # no lone surrogates


def test_table_with_colour_has_only_our_colour_codes() -> None:
    out = render(hostile_report(), "table", color=True, transcript=True)
    assert _acting_characters(SGR.sub("", out)) == []
    # The server's own "\x1b[31m" shows up as visible text, never as an escape.
    assert "\\x1b[31mPWNED" in out


def test_json_and_jsonl_stay_lossless_and_ascii() -> None:
    text = render(hostile_report(), "json")
    assert text.isascii()
    assert report_from_jsonable(json.loads(text)) == hostile_report()
    for line in render(hostile_report(), "jsonl").splitlines():
        assert line.isascii()
        json.loads(line)


def test_junit_is_valid_xml(tmp_path: Path) -> None:
    out = render(hostile_report(), "junit", transcript=True)
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    assert any("\\x1b[2J" in (node.text or "") for node in root.iter("system-out"))
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        pytest.skip("xmllint (libxml2-utils) not installed")
    path = tmp_path / "junit.xml"
    path.write_text(out, encoding="utf-8")
    result = subprocess.run([xmllint, "--noout", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_has_no_markup_from_data() -> None:
    out = render(hostile_report(), "html", transcript=True)
    assert "<script" not in out.lower()
    parser = _Collector()
    parser.feed(out)
    parser.close()
    allowed = {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "h4",
        "p",
        "section",
        "article",
        "nav",
        "ol",
        "ul",
        "li",
        "dl",
        "dt",
        "dd",
        "a",
        "span",
        "div",
        "code",
        "strong",
        "table",
        "tr",
        "th",
        "td",
        "br",
        "details",
        "summary",
        "pre",
    }
    assert set(parser.tags) <= allowed
    text = "".join(parser.text)
    assert "<script>alert(1)</script>" in text  # shown as text, escaped in the source
    assert "Content-Security-Policy" in out


def test_markdown_escapes_table_syntax_and_markup() -> None:
    out = render(hostile_report(), "markdown")
    assert not re.search(r"(?<!\\)<script", out)
    assert "\\<script\\>" in out
    ours = re.compile(r"^(```+text\n.*?\n```+|<details><summary>[^<>]*</summary>|</details>)$", re.M | re.S)
    unescaped = re.sub(r"\\.", "", ours.sub("", out))  # our fenced catalogue examples and <details> blocks
    # Outside escapes, the only specials left are ours: table pipes, heading hashes, bold stars, list dashes.
    assert "`" not in unescaped and "[" not in unescaped and "<" not in unescaped and "@" not in unescaped
    for line in out.splitlines():
        if line.startswith("| **CRITICAL**"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 7  # 6 cells


def test_nagios_first_line_has_one_perfdata_separator() -> None:
    code, out = nagios_status(hostile_report())
    first, *rest = out.splitlines()
    assert code == 2
    assert first.count("|") == 1
    assert all("|" not in line for line in rest)
    perf = first.split(" | ", 1)[1]
    assert re.fullmatch(r"('[A-Za-z0-9_.:@#-]+'=[-0-9.]+[a-z]*(;[0-9:]*){2,4} ?)+", perf)


def test_bidi_controls_never_reach_any_output() -> None:
    for fmt in FORMATS:
        assert not BIDI.search(render(hostile_report(), fmt, transcript=True)), fmt
