"""SMTP, sans-I/O: replies (RFC 5321 4.2) and EHLO extensions, parsed from bytes into frozen facts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.decimal_text import MAX_DIGITS, decimal_value
from mailprobe.errors import LimitExceeded, ProtocolViolation
from mailprobe.model import Capability
from mailprobe.protocols.lines import decode, next_line

_CODE = re.compile(rb"^([2-5][0-9][0-9])([ -]|$)")


@dataclass(frozen=True, slots=True)
class SmtpReply:
    code: int
    lines: tuple[str, ...]  # text after "250-" / "250 ", one per line
    raw: bytes

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def first_line(self) -> str:
        return f"{self.code} {self.lines[0]}" if self.lines else str(self.code)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400


def parse_reply(buf: bytes, max_line: int = 8192, max_lines: int = 1000) -> tuple[SmtpReply, int] | None:
    """One complete reply at the start of `buf` and the bytes it used, or None when more bytes are needed.

    Every line must carry the same three-digit code; the last line has a space (or nothing) after it.
    """
    pos = 0
    code: bytes | None = None
    texts: list[str] = []
    while True:
        found = next_line(buf, pos, max_line)
        if found is None:
            return None
        line, pos = found
        match = _CODE.match(line)
        if match is None:
            raise ProtocolViolation(f"not an SMTP reply line: {decode(line[:80])!r}")
        if code is not None and match.group(1) != code:
            raise ProtocolViolation(
                f"reply code changed inside a multi-line reply: {code.decode()} then {match.group(1).decode()}"
            )
        code = match.group(1)
        texts.append(decode(line[4:]))
        if len(texts) > max_lines:
            raise LimitExceeded(f"reply longer than {max_lines} lines")
        if match.group(2) != b"-":
            return SmtpReply(int(code), tuple(texts), bytes(buf[:pos])), pos


def parse_ehlo(reply: SmtpReply) -> tuple[Capability, ...]:
    """EHLO extensions (every line after the first, which names the server)."""
    caps: list[Capability] = []
    for text in reply.lines[1:]:
        words = text.split()
        if not words:
            continue
        keyword = words[0].upper()
        params = tuple(words[1:])
        # Old servers advertise "AUTH=LOGIN PLAIN"; treat it as AUTH.
        if keyword.startswith("AUTH="):
            params = (keyword[5:], *params)
            keyword = "AUTH"
        if keyword == "AUTH":
            params = tuple(p.upper() for p in params)
        caps.append(Capability(keyword, params, text))
    return tuple(caps)


def auth_mechanisms(caps: tuple[Capability, ...]) -> tuple[str, ...]:
    mechs: list[str] = []
    for cap in caps:
        if cap.keyword == "AUTH":
            mechs.extend(m for m in cap.params if m not in mechs)
    return tuple(mechs)


def has(caps: tuple[Capability, ...], keyword: str) -> bool:
    return any(cap.keyword == keyword for cap in caps)


def size_limit(caps: tuple[Capability, ...]) -> int | None:
    """The SIZE extension's limit (RFC 1870); None when absent or not a number of at most MAX_DIGITS digits
    (a 5000-digit "size" is no size, and int() would refuse it)."""
    for cap in caps:
        if cap.keyword == "SIZE" and cap.params:
            size = decimal_value(cap.params[0], MAX_DIGITS)
            if size is not None:
                return size
    return None


MASKED_STARTTLS = "XXXXXXXA"  # what Cisco ASA/PIX ESMTP inspection puts in place of STARTTLS


def is_masked(reply: SmtpReply) -> bool:
    """A greeting whose text is asterisks (with a few digits): Cisco ASA/PIX "banner obfuscation"."""
    text = "".join(reply.text.split())
    stars = text.count("*")
    return stars >= 4 and stars * 2 >= len(text) and all(c == "*" or c.isdigit() for c in text)


def greeting_host(reply: SmtpReply) -> str:
    """The host name a 220 greeting announces (its first word)."""
    words = reply.lines[0].split() if reply.lines else []
    return words[0].rstrip(".").lower() if words else ""


# What each command we send means, for the annotated transcript.
ANNOTATIONS = {
    "greeting": "server greeting: 220 means ready; the first word should be its host name",
    "EHLO": "EHLO introduces the client and asks for the server's extensions (ESMTP)",
    "HELO": "HELO: the old greeting, for servers that do not speak ESMTP (no extensions)",
    "STARTTLS": "STARTTLS asks to upgrade this same connection to TLS; 220 means go ahead",
    "MAIL": "MAIL FROM:<> starts a message with the null sender; tells whether TLS or AUTH is required first",
    "RCPT": "RCPT TO names a recipient; accepting a foreign domain without AUTH means an open relay",
    "RSET": "RSET abandons the message being started; nothing is sent",
    "VRFY": "VRFY asks whether a mailbox exists; answering it lets spammers harvest addresses",
    "EXPN": "EXPN asks for a mailing list's members; answering it leaks addresses",
    "QUIT": "QUIT ends the session politely; 221 is the goodbye",
}
