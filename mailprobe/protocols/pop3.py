"""POP3, sans-I/O (RFC 1939, 2449 CAPA, 2595 STLS): status lines and dot-terminated multi-line replies."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.errors import LimitExceeded, ProtocolViolation
from mailprobe.model import Capability
from mailprobe.protocols.lines import decode, next_line

_APOP_TIMESTAMP = re.compile(r"<[^<>@\s]+@[^<>\s]+>")


@dataclass(frozen=True, slots=True)
class Pop3Reply:
    ok: bool
    text: str  # after +OK / -ERR
    lines: tuple[str, ...]  # body of a multi-line reply, dot-unstuffed
    raw: bytes

    @property
    def first_line(self) -> str:
        return ("+OK " if self.ok else "-ERR ") + self.text


def _status(line: bytes) -> tuple[bool, str]:
    if line.startswith(b"+OK"):
        return True, decode(line[3:]).lstrip()
    if line.startswith(b"-ERR"):
        return False, decode(line[4:]).lstrip()
    raise ProtocolViolation(f"not a POP3 status line: {decode(line[:80])!r}")


def parse_status(buf: bytes, max_line: int = 8192) -> tuple[Pop3Reply, int] | None:
    found = next_line(buf, 0, max_line)
    if found is None:
        return None
    line, pos = found
    ok, text = _status(line)
    return Pop3Reply(ok, text, (), bytes(buf[:pos])), pos


def parse_multiline(buf: bytes, max_line: int = 8192, max_lines: int = 1000) -> tuple[Pop3Reply, int] | None:
    """A +OK status followed by lines up to a lone '.'; a -ERR has no body."""
    first = parse_status(buf, max_line)
    if first is None:
        return None
    status, pos = first
    if not status.ok:
        return status, pos
    body: list[str] = []
    while True:
        found = next_line(buf, pos, max_line)
        if found is None:
            return None
        line, pos = found
        if line == b".":
            return Pop3Reply(True, status.text, tuple(body), bytes(buf[:pos])), pos
        if line.startswith(b"."):
            line = line[1:]
        body.append(decode(line))
        if len(body) > max_lines:
            raise LimitExceeded(f"reply longer than {max_lines} lines")


def parse_capa(reply: Pop3Reply) -> tuple[Capability, ...]:
    caps: list[Capability] = []
    for text in reply.lines:
        words = text.split()
        if words:
            params = tuple(words[1:])
            if words[0].upper() == "SASL":
                params = tuple(p.upper() for p in params)
            caps.append(Capability(words[0].upper(), params, text))
    return tuple(caps)


def sasl_mechanisms(caps: tuple[Capability, ...]) -> tuple[str, ...]:
    for cap in caps:
        if cap.keyword == "SASL":
            return cap.params
    return ()


def apop_timestamp(greeting: Pop3Reply) -> str | None:
    match = _APOP_TIMESTAMP.search(greeting.text)
    return match.group(0) if match else None


def expire_policy(caps: tuple[Capability, ...]) -> str | None:
    """EXPIRE 0 means the server deletes mail once it has been downloaded (RFC 2449 6.7)."""
    for cap in caps:
        if cap.keyword == "EXPIRE":
            return " ".join(cap.params) or "?"
    return None


ANNOTATIONS = {
    "greeting": "server greeting: +OK means ready; a <...@...> stamp means APOP is possible",
    "CAPA": "CAPA lists what the server supports, one per line, ended by a lone dot",
    "STLS": "STLS asks to upgrade this connection to TLS; +OK means go ahead",
    "USER": "USER with a name that exists nowhere (never a password): is USER taken before TLS?",
    "QUIT": "QUIT ends the session",
}
