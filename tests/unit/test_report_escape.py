"""escape.py: the one place that makes untrusted text safe for terminals, XML, Markdown and HTML."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailprobe.report.escape import escape_char, html_safe, markdown_cell, terminal_safe, xml_safe

ANY_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=60)
UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _unsafe(ch: str) -> bool:
    code = ord(ch)
    return unicodedata.category(ch) in UNSAFE_CATEGORIES or 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00", "nul\\x00"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b", "csi\\x9b"),  # C1 CSI acts like ESC [ on some terminals
        ("a\u202eb\u202c", "a\\u202eb\\u202c"),
        ("\u2066iso\u2069", "\\u2066iso\\u2069"),
        ("line\r\nnext", "line\\r\\nnext"),
        ("tab\there", "tab\\there"),
        ("sep\u2028", "sep\\u2028"),
        ("non\uffff", "non\\uffff"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"),  # printable non-ASCII stays readable
    ],
)
def test_terminal_safe_escapes_controls_visibly(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


def test_terminal_safe_bytes_shows_invalid_utf8_as_bytes() -> None:
    assert terminal_safe(b"ok \xff\xfe \xc3\xa9 \x1b") == "ok \\xff\\xfe \u00e9 \\x1b"


def test_multiline_keeps_line_feeds_but_not_lone_cr() -> None:
    assert terminal_safe("a\r\nb\nc\rd", multiline=True) == "a\nb\nc\\rd"


@given(ANY_TEXT)
def test_terminal_safe_never_lets_an_unsafe_character_through(text: str) -> None:
    out = terminal_safe(text)
    assert not any(_unsafe(ch) for ch in out)
    assert "\n" not in out


@given(st.binary(max_size=60))
def test_terminal_safe_bytes_output_is_encodable(data: bytes) -> None:
    out = terminal_safe(data)
    out.encode("utf-8")  # no lone surrogates left
    assert not any(_unsafe(ch) for ch in out)


@given(ANY_TEXT)
def test_xml_safe_text_survives_any_xml_parser(text: str) -> None:
    root = ET.Element("r", attr=xml_safe(text))
    root.text = xml_safe(text, multiline=True)
    parsed = ET.fromstring(ET.tostring(root, encoding="unicode"))
    assert parsed.get("attr") == xml_safe(text)


def test_xml_safe_escapes_what_xml_forbids() -> None:
    assert xml_safe("a\x00b\x1bc\ufffe]]>") == "a\\x00b\\x1bc\\ufffe]]>"


def test_html_safe_escapes_markup_and_controls() -> None:
    assert html_safe('<script>alert("x")</script>\x1b') == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\\x1b"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a | b", "a \\| b"),
        ("`code`", "\\`code\\`"),
        ("[x](http://e.invalid)", "\\[x\\](http://e.invalid)"),
        ("<b>", "\\<b\\>"),
        ("*b* _i_", "\\*b\\* \\_i\\_"),
        ("@user #1 !2 ~l $m$ %ms &e", "\\@user \\#1 \\!2 \\~l \\$m\\$ \\%ms \\&e"),
        ("back\\slash", "back\\\\slash"),
        ("two\nlines", "two\\\\nlines"),  # visible \n, its backslash escaped for Markdown
    ],
)
def test_markdown_cell_escapes_syntax(raw: str, shown: str) -> None:
    assert markdown_cell(raw) == shown


@given(ANY_TEXT)
def test_markdown_cell_leaves_no_unescaped_special(text: str) -> None:
    out = markdown_cell(text)
    assert "\n" not in out
    # Remove escaped pairs; whatever remains must hold no Markdown-special character.
    rest = re.sub(r"\\.", "", out)
    assert not re.search(r"[\\`*_\[\]<>|~&!@#$%]", rest)


def test_escape_char_forms() -> None:
    assert escape_char("\n") == "\\n"
    assert escape_char("\x05") == "\\x05"
    assert escape_char("\u202e") == "\\u202e"
    assert escape_char("\U000e0001") == "\\U000e0001"
    assert escape_char("\udcff") == "\\xff"  # surrogateescape'd byte


@settings(max_examples=30)
@given(ANY_TEXT)
def test_terminal_safe_is_idempotent(text: str) -> None:
    once = terminal_safe(text)
    assert terminal_safe(once) == once


@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
def test_ascii_text_is_escaped_as_character_by_character(raw: str) -> None:
    # ASCII takes a translate-table path; it must agree with escaping every unsafe character on its own.
    assert terminal_safe(raw) == "".join(escape_char(ch) if _unsafe(ch) else ch for ch in raw)
