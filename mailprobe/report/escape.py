"""The one place that makes untrusted text (server replies, DNS data, certificate fields, targets) safe to show.

Every renderer passes every string it did not write itself through one of these. `terminal_safe` is the base:
it shows control characters visibly (`\\x1b`, `\\u202e`) instead of letting them act on a terminal, a browser
or a reader (ANSI escapes, CR overwrites, bidi overrides that reorder text). The other helpers add what their
format needs on top. The escaped text is for display; the lossless bytes live in the JSON output (base64).
"""

from __future__ import annotations

import html
import re
import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Cc: C0, DEL, C1 controls. Cf: format chars incl. bidi overrides/isolates (U+202A-202E, U+2066-2069),
# LRM/RLM, zero-width chars. Cs: lone surrogates. Zl/Zp: U+2028/U+2029, which some viewers treat as newlines.
# Noncharacters (U+FFFE, U+FFFF, U+FDD0-FDEF, ...) are escaped too: XML forbids some, and none are text.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Characters XML 1.0 allows (section 2.2); everything else must not reach an XML document. Compiled when first
# needed: its ranges cost ~8 ms to compile, start-up that a run writing no XML need not pay.
_XML_FORBIDDEN = "[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
# Markdown syntax (code spans, links, HTML, emphasis, table pipes, strikethrough) and GitHub/GitLab references
# (@user, #issue, !merge-request, ~label, %milestone, $snippet/math, &epic), and the backslash itself.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&!@#$%])")


def escape_char(ch: str) -> str:
    """One character as a visible escape: `\\n`, `\\x1b`, `\\u202e`, `\\U0001d11e`."""
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte carried through surrogateescape: show the byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


_ASCII_ESCAPES = {code: escape_char(chr(code)) for code in (*range(0x20), 0x7F)}


def _is_unsafe(ch: str) -> bool:
    code = ord(ch)
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:  # noncharacters (U+FFFE, U+FFFF, ...)
        return True
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _as_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        # Invalid UTF-8 survives as surrogates, which escape_char shows as the original byte (\xff).
        return value.decode("utf-8", "surrogateescape")
    return value


def terminal_safe(value: str | bytes, *, multiline: bool = False) -> str:
    """Text that cannot act on a terminal: every control, format and separator character visibly escaped.

    With `multiline` a line feed (or CR LF) stays a line break; a lone CR is still escaped, so it cannot
    move the cursor back over text already shown.
    """
    text = _as_text(value)
    if text.isprintable():  # fast path: printable text holds none of the unsafe categories
        return text
    if multiline:
        text = text.replace("\r\n", "\n")
        return "\n".join(_escape_line(line) for line in text.split("\n"))
    return _escape_line(text)


def _escape_line(text: str) -> str:
    if text.isprintable():
        return text
    if text.isascii():  # the usual case (a server's line with its CR LF): only C0 controls and DEL are unsafe
        return text.translate(_ASCII_ESCAPES)
    return "".join(escape_char(ch) if _is_unsafe(ch) else ch for ch in text)


def xml_safe(value: str | bytes, *, multiline: bool = False) -> str:
    """terminal_safe text with every character XML 1.0 forbids escaped visibly (no entity escaping).

    The XML writer (ElementTree) still escapes `&`, `<`, `>` and quotes; this removes what no escaping can
    represent in XML 1.0 (NUL, ESC, other C0 controls, lone surrogates, U+FFFE/U+FFFF).
    """
    text = terminal_safe(value, multiline=multiline)
    return re.compile(_XML_FORBIDDEN).sub(lambda m: escape_char(m.group()), text)


def html_safe(value: str | bytes, *, multiline: bool = False) -> str:
    """terminal_safe text, then HTML-escaped (quotes included, so it is safe in attributes too)."""
    return html.escape(terminal_safe(value, multiline=multiline), quote=True)


def markdown_cell(value: str | bytes) -> str:
    """One line of Markdown text that cannot start a table cell, code span, link, HTML tag, emphasis or mention.

    Line breaks become visible `\\n` (a table row is one line); then every character Markdown (GitHub and
    GitLab flavours) gives meaning to is backslash-escaped, the backslash itself first.
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", terminal_safe(value))
