"""Which mail protocol a server speaks, from the first bytes it sends (sans-I/O).

Every mail protocol greets first, and each greets differently:

    SMTP (RFC 5321 4.2)   a three-digit code 2xx-5xx, then SP, "-" or the line end: "220 mx ESMTP", "554 no"
    POP3 (RFC 1939 3)     "+OK" or "-ERR", then SP or the line end
    IMAP (RFC 9051 7.1)   "* OK", "* PREAUTH" or "* BYE" (any case), then SP or the line end

`classify(data)` answers as soon as the bytes decide it, and only then: None while they are still the start
of some greeting ("22", "+O", "* PRE"); once it answers, more bytes never change the answer. A server that
says nothing at all may be waiting for a TLS ClientHello (implicit TLS): that is the I/O side's question
(probes/identify.py), asked when this one gets no bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailprobe.model import Protocol
from mailprobe.protocols.lines import decode

_AFTER_WORD = b" \r\n"
_WORDS: tuple[tuple[bytes, Protocol], ...] = (
    (b"+OK", Protocol.POP3),
    (b"-ERR", Protocol.POP3),
    (b"* OK", Protocol.IMAP),
    (b"* PREAUTH", Protocol.IMAP),
    (b"* BYE", Protocol.IMAP),
)
EVIDENCE_MAX = 80  # characters of the first line kept as evidence


@dataclass(frozen=True, slots=True)
class Greeting:
    """What the first bytes say: a protocol, or None for bytes that are no mail greeting."""

    protocol: Protocol | None
    first_line: str  # as much of the first line as decided it, escaped for display

    def describe(self) -> str:
        if self.protocol is None:
            return f"it sent {self.first_line!r}, which is no SMTP, POP3 or IMAP greeting"
        return f"its greeting {self.first_line!r} is {self.protocol.value.upper()}'s"


def _evidence(data: bytes) -> str:
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return decode(line)[:EVIDENCE_MAX]


def _smtp(head: bytes) -> bool | None:
    """True: an SMTP reply code; False: not one; None: too few bytes to tell."""
    for index, byte in enumerate(head[:4]):
        if index == 0 and byte not in b"2345":
            return False
        if index in (1, 2) and byte not in b"0123456789":
            return False
        if index == 3:
            return byte in b" -\r\n"
    return None


def _word(head: bytes, word: bytes) -> bool | None:
    """True: `word` then SP or a line end; False: not it; None: too few bytes to tell."""
    upper = head[: len(word) + 1].upper()
    if len(upper) <= len(word):
        return None if word.startswith(upper) else False
    return upper.startswith(word) and upper[len(word)] in _AFTER_WORD


def classify(data: bytes) -> Greeting | None:
    """The protocol the first bytes of a server's stream announce; None until they decide it."""
    if not data:
        return None
    smtp = _smtp(data)
    if smtp:
        return Greeting(Protocol.SMTP, _evidence(data))
    undecided = smtp is None
    for word, protocol in _WORDS:
        found = _word(data, word)
        if found:
            return Greeting(protocol, _evidence(data))
        undecided = undecided or found is None
    return None if undecided else Greeting(None, _evidence(data))


def parse_greeting(buf: bytes) -> tuple[Greeting, int] | None:
    """A Session parser: the classification once decided, consuming what was read (Session.read)."""
    found = classify(buf)
    return None if found is None else (found, len(buf))
