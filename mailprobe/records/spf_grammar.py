"""The SPF term grammar of RFC 7208 (sections 4.6.1, 5, 6, 7 and the ABNF of section 12), sans I/O.

Each function returns the fault in words ("" when there is none), so the record parser can name the term
and what is wrong with it. Nothing here raises on any input.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

QUALIFIERS = "+-~?"
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
MAX_LABEL = 63  # RFC 1035 2.3.4, octets
MAX_NAME = 253  # text form without the trailing dot
# macro-letter: c, r and t are for explanation text only (RFC 7208 7.3), never in the record itself.
RECORD_MACRO_LETTERS = "slodiphv"
EXPLANATION_ONLY_LETTERS = "crt"

_MODIFIER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
_TOPLABEL = re.compile(r"^(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])$")
_MACRO_BODY = re.compile(r"^([A-Za-z])([0-9]*)([rR]?)([-.+,/_=]*)$")
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IP4 = re.compile(rf"^{_QNUM}(?:\.{_QNUM}){{3}}$")
# a/mx arguments end in an optional dual-cidr-length: "/24", "//64", "/24//64".
_DUAL_CIDR = re.compile(r"^(?P<domain>.*?)(?P<v4>/[0-9]*)?(?P<v6>//[0-9]*)?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Piece:
    """One token of a macro-string: a literal character or a macro-expand such as `%{d}` or `%%`."""

    text: str
    macro: bool


def show(text: str) -> str:
    """The text as it can be printed in a message: control and non-ASCII characters escaped."""
    return "".join(c if 0x20 <= ord(c) < 0x7F else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def char_fault(text: str) -> str:
    """Characters no SPF term may hold: SP alone separates terms (RFC 7208 4.6.1), the rest is visible ASCII."""
    for char in text:
        code = ord(char)
        if code == 0x20:
            continue
        if code < 0x20 or code == 0x7F:
            return f"control character {_escape(char)} (only spaces separate terms)"
        if code > 0x7E:
            return f"non-ASCII character {_escape(char)} (SPF records are 7-bit ASCII)"
    return ""


def macro_pieces(text: str) -> tuple[list[Piece], str]:
    """Split a macro-string into literals and macro-expands (RFC 7208 7.1), or say what is wrong."""
    pieces: list[Piece] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != "%":
            if not 0x21 <= ord(char) <= 0x7E:
                return pieces, f"character {_escape(char)} is not allowed"
            pieces.append(Piece(char, False))
            index += 1
            continue
        following = text[index + 1 : index + 2]
        if following in ("%", "_", "-"):
            pieces.append(Piece(text[index : index + 2], True))
            index += 2
            continue
        if following != "{":
            return pieces, f"'%' must be followed by {{, %, _ or - (found {show(following) or 'the end'})"
        end = text.find("}", index)
        if end < 0:
            return pieces, f"macro '{show(text[index:])}' has no closing brace"
        fault = _macro_fault(text[index + 2 : end])
        if fault:
            return pieces, f"macro '{show(text[index : end + 1])}': {fault}"
        pieces.append(Piece(text[index : end + 1], True))
        index = end + 1
    return pieces, ""


def _macro_fault(body: str) -> str:
    """The inside of `%{...}`: macro-letter transformers *delimiter (RFC 7208 7.1)."""
    match = _MACRO_BODY.match(body)
    if not match:
        return "a macro is a letter, optional digits and 'r', then delimiters from . - + , / _ ="
    letter, digits = match.group(1).lower(), match.group(2)
    if letter in EXPLANATION_ONLY_LETTERS:
        return f"'{letter}' is allowed only in explanation text, not in the record (RFC 7208 7.3)"
    if letter not in RECORD_MACRO_LETTERS:
        return f"'{letter}' is not a macro letter"
    if digits and int(digits) == 0:
        return "the number of labels to keep must not be zero (RFC 7208 7.3)"
    return ""


def macro_string_fault(text: str) -> str:
    return macro_pieces(text)[1]


def domain_spec_fault(text: str) -> str:
    """domain-spec = macro-string domain-end; domain-end = "." toplabel ["."] / macro-expand (RFC 7208 7.1),
    with the limits of a DNS name (labels of at most 63 octets, at most 253 in all) where no macro stands."""
    if not text:
        return "empty domain"
    pieces, fault = macro_pieces(text)
    if fault:
        return fault
    if pieces[-1].macro:
        return _label_fault(pieces)
    literal_end = "".join(p.text for p in _trailing_literals(pieces))
    body = literal_end[:-1] if literal_end.endswith(".") else literal_end
    if "." not in body:
        return "a domain must end in '.' and a top label, or in a macro"
    top = body.rsplit(".", 1)[1]
    if not top:
        return "empty top label"
    if not _TOPLABEL.match(top):
        return f"top label '{show(top)}' must be letters, digits and inner hyphens, not all digits"
    return _label_fault(pieces)


def _trailing_literals(pieces: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for piece in reversed(pieces):
        if piece.macro:
            break
        out.append(piece)
    return out[::-1]


def _label_fault(pieces: list[Piece]) -> str:
    """Labels written out in full (no macro in them) must fit the DNS; a macro's expansion is checked when used."""
    labels: list[tuple[str, bool]] = [("", False)]
    for piece in pieces:
        if not piece.macro and piece.text == ".":
            labels.append(("", False))
        else:
            text, has_macro = labels[-1]
            labels[-1] = (text + piece.text, has_macro or piece.macro)
    if len(labels) > 1 and labels[-1] == ("", False):
        labels.pop()  # a trailing dot ends the name
    for text, has_macro in labels:
        if not text and not has_macro:
            return "empty label (a leading or doubled dot)"
        if not has_macro and len(text) > MAX_LABEL:
            return f"label '{text[:20]}...' is {len(text)} octets (at most {MAX_LABEL})"
    if not any(has_macro for _, has_macro in labels):
        name = ".".join(text for text, _ in labels)
        if len(name) > MAX_NAME:
            return f"the name is {len(name)} octets (at most {MAX_NAME})"
    return ""


def cidr_fault(text: str, family: int) -> str:
    """ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT), at most 32; ip6 at most 128 (RFC 7208 5.6, 12)."""
    limit = 32 if family == 4 else 128
    if not text:
        return f"empty IPv{family} prefix length"
    if not text.isdigit() or not text.isascii():
        return f"IPv{family} prefix length '{show(text)}' is not a number"
    if len(text) > 1 and text.startswith("0"):
        return f"IPv{family} prefix length /{text} has a leading zero"
    if int(text) > limit:
        return f"IPv{family} prefix length /{text} is longer than {limit}"
    return ""


def split_dual_cidr(argument: str) -> tuple[str, str | None, str | None]:
    """An a/mx argument as (domain-spec, IPv4 length, IPv6 length); a length is None when absent."""
    match = _DUAL_CIDR.match(argument)
    if match is None:  # pragma: no cover - the pattern matches every string
        return argument, None, None
    v4, v6 = match.group("v4"), match.group("v6")
    return match.group("domain"), (v4[1:] if v4 is not None else None), (v6[2:] if v6 is not None else None)


def network_fault(name: str, argument: str) -> str:
    """ip4:/ip6: an address in its own family and an optional prefix length without leading zeros."""
    if not argument:
        return "needs an address"
    address, slash, prefix = argument.partition("/")
    family = 4 if name == "ip4" else 6
    if family == 4 and not _IP4.match(address):
        if _is_ip6(address):
            return "ip4 with an IPv6 address"
        return f"'{show(address)}' is not an IPv4 address (four numbers 0-255, no leading zeros)"
    if family == 6 and not _is_ip6(address):
        if _IP4.match(address):
            return "ip6 with an IPv4 address"
        return f"'{show(address)}' is not an IPv6 address"
    return cidr_fault(prefix, family) if slash else ""


def _is_ip6(text: str) -> bool:
    if "%" in text or not text.isascii():
        return False  # a zone index is no part of RFC 4291 text
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def modifier_name_fault(name: str) -> str:
    if not _MODIFIER_NAME.match(name):
        return f"'{show(name)}' is not a modifier name (a letter, then letters, digits, '-', '_', '.')"
    return ""
