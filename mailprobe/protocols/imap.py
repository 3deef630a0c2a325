"""IMAP, sans-I/O (RFC 3501/9051): greetings, tagged responses with untagged data, literals, capabilities."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.errors import LimitExceeded, ProtocolViolation
from mailprobe.model import Capability
from mailprobe.protocols.lines import decode, next_line

_LITERAL = re.compile(rb"\{(-?[0-9]+)(\+?)\}$")
_LITERAL_DIGITS = 18  # more is over any cap (and int() refuses over 4300)
_CAPABILITY_CODE = re.compile(r"\[CAPABILITY ([^\]]*)\]", re.IGNORECASE)
_STATUS = re.compile(r"^(OK|NO|BAD|PREAUTH|BYE)\b ?(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class ImapResponse:
    untagged: tuple[str, ...]  # "* ..." lines, literals inlined as {n} markers
    tag: str  # "*" for a greeting
    status: str  # OK, NO, BAD, PREAUTH, BYE
    text: str
    raw: bytes

    @property
    def first_line(self) -> str:
        return f"{self.tag} {self.status} {self.text}".rstrip()


def _logical_line(buf: bytes, start: int, max_line: int, max_literal: int) -> tuple[bytes, int] | None:
    """A response line with its literals ({n} then n bytes) folded in; None if incomplete."""
    parts: list[bytes] = []
    pos = start
    while True:
        found = next_line(buf, pos, max_line)
        if found is None:
            return None
        line, pos = found
        parts.append(line)
        literal = _LITERAL.search(line)
        if literal is None:
            return b"\r\n".join(parts), pos
        digits = literal.group(1)
        if digits.startswith(b"-"):
            raise ProtocolViolation(f"negative literal size {{{decode(digits[:20])}}}")
        if len(digits) > _LITERAL_DIGITS:
            raise LimitExceeded(f"literal size of {len(digits)} digits is over the {max_literal}-byte cap")
        size = int(digits)
        if size > max_literal:
            raise LimitExceeded(f"literal of {size} bytes is over the {max_literal}-byte cap")
        if len(buf) - pos < size:
            return None
        parts.append(bytes(buf[pos : pos + size]))
        pos += size


def parse_greeting(buf: bytes, max_line: int = 8192, max_literal: int = 65536) -> tuple[ImapResponse, int] | None:
    found = _logical_line(buf, 0, max_line, max_literal)
    if found is None:
        return None
    line, pos = found
    text = decode(line)
    if not text.startswith("* "):
        raise ProtocolViolation(f"not an IMAP greeting: {text[:80]!r}")
    match = _STATUS.match(text[2:])
    if match is None or match.group(1).upper() not in ("OK", "PREAUTH", "BYE"):
        raise ProtocolViolation(f"not an IMAP greeting: {text[:80]!r}")
    return ImapResponse((), "*", match.group(1).upper(), match.group(2), bytes(buf[:pos])), pos


def parse_tagged(
    buf: bytes, tag: str, max_line: int = 8192, max_literal: int = 65536, max_lines: int = 1000
) -> tuple[ImapResponse, int] | None:
    """Untagged lines up to and including the tagged completion for `tag`."""
    pos = 0
    untagged: list[str] = []
    prefix = tag + " "
    while True:
        found = _logical_line(buf, pos, max_line, max_literal)
        if found is None:
            return None
        line, pos = found
        text = decode(line)
        if text.startswith(prefix):
            match = _STATUS.match(text[len(prefix) :])
            if match is None or match.group(1).upper() not in ("OK", "NO", "BAD"):
                raise ProtocolViolation(f"bad tagged status: {text[:80]!r}")
            return ImapResponse(tuple(untagged), tag, match.group(1).upper(), match.group(2), bytes(buf[:pos])), pos
        if text.startswith("* ") or text.startswith("+"):
            untagged.append(text)
            if len(untagged) > max_lines:
                raise LimitExceeded(f"more than {max_lines} untagged lines")
            continue
        raise ProtocolViolation(f"unexpected IMAP line: {text[:80]!r}")


def _atoms(words: str) -> tuple[Capability, ...]:
    return tuple(Capability(atom.upper(), (), atom) for atom in words.split())


def capabilities(response: ImapResponse) -> tuple[Capability, ...]:
    """From a `* CAPABILITY` line or, failing that, a [CAPABILITY ...] response code."""
    for line in response.untagged:
        if line[2:].upper().startswith("CAPABILITY "):
            return _atoms(line[2 + len("CAPABILITY ") :])
    code = _CAPABILITY_CODE.search(response.text)
    return _atoms(code.group(1)) if code else ()


def auth_mechanisms(caps: tuple[Capability, ...]) -> tuple[str, ...]:
    return tuple(c.keyword[5:] for c in caps if c.keyword.startswith("AUTH="))


def has(caps: tuple[Capability, ...], atom: str) -> bool:
    return any(c.keyword == atom for c in caps)


ANNOTATIONS = {
    "greeting": "server greeting: '* OK' ready, '* PREAUTH' already logged in (!), '* BYE' refused",
    "CAPABILITY": "CAPABILITY asks what the server supports; the tagged OK ends the answer",
    "STARTTLS": "STARTTLS asks to upgrade this connection to TLS; the tagged OK means go ahead",
    "LOGOUT": "LOGOUT ends the session; the server says BYE",
}
