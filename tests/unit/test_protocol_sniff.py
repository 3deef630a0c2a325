"""The greeting classifier (protocols/sniff.py): recorded greetings of real servers, and properties over any
bytes: it decides only when the bytes do, never changes its mind, and never raises."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.model import Protocol, Service
from mailprobe.protocols.sniff import classify, parse_greeting

RECORDINGS = sorted((Path(__file__).parents[1] / "transcripts").glob("*.json"))
LINE_END = st.sampled_from([b"\r\n", b"\n"])
TEXT = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def first_server_bytes(path: Path) -> tuple[Protocol, bytes]:
    recorded = json.loads(path.read_text())
    protocol = Service(recorded["target"]["service"]).protocol
    for entry in recorded["transcript"]:
        if entry["direction"] == "S":
            return protocol, base64.b64decode(entry["data"]["base64"])
    raise AssertionError(f"{path.name}: no server bytes")


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_recorded_greetings_of_real_servers(path: Path) -> None:
    """Postfix, Exim, Dovecot and Courier greetings (inside TLS for 465/993/995), whole and byte by byte."""
    protocol, greeting = first_server_bytes(path)
    found = classify(greeting)
    assert found is not None and found.protocol is protocol, (path.name, greeting[:40])
    for end in range(len(greeting) + 1):  # a greeting that arrives a byte at a time is never misread
        partial = classify(greeting[:end])
        assert partial is None or partial.protocol is protocol


SMTP = st.builds(
    lambda code, sep, text: f"{code}".encode() + sep + text,
    st.integers(200, 599),
    st.sampled_from([b" ", b"-"]),
    TEXT,
)
POP3 = st.builds(lambda word, text: word + b" " + text, st.sampled_from([b"+OK", b"-ERR"]), TEXT)
IMAP = st.builds(
    lambda word, text: b"* " + word + b" " + text,
    st.sampled_from([b"OK", b"ok", b"PREAUTH", b"Bye"]),
    TEXT,
)
GREETINGS = st.one_of(
    SMTP.map(lambda g: (Protocol.SMTP, g)),
    POP3.map(lambda g: (Protocol.POP3, g)),
    IMAP.map(lambda g: (Protocol.IMAP, g)),
)


@given(GREETINGS, LINE_END, st.binary(max_size=40))
def test_every_greeting_is_told_whatever_follows(greeting: tuple[Protocol, bytes], end: bytes, rest: bytes) -> None:
    protocol, line = greeting
    found = classify(line + end + rest)
    assert found is not None and found.protocol is protocol


@given(GREETINGS)
def test_a_prefix_of_a_greeting_is_undecided_or_right(greeting: tuple[Protocol, bytes]) -> None:
    protocol, line = greeting
    for end in range(len(line) + 1):
        found = classify(line[:end])
        assert found is None or found.protocol is protocol


@given(st.binary(max_size=64), st.binary(max_size=64))
def test_once_decided_more_bytes_never_change_the_answer(data: bytes, more: bytes) -> None:
    first = classify(data)
    if first is not None:
        again = classify(data + more)
        assert again is not None and again.protocol is first.protocol


@given(st.binary(max_size=40), st.binary(max_size=20))
def test_a_whole_first_line_is_always_decided(line: bytes, rest: bytes) -> None:
    """A complete line is a greeting or not: the reader never waits past the first line end."""
    assert classify(line + b"\n" + rest) is not None


@pytest.mark.parametrize(
    "data",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 400 Bad Request\r\n", b"\x16\x03\x03\x00\x2a", b"600 no\r\n", b"+OKAY\r\n"],
)
def test_other_protocols_are_no_mail_greeting(data: bytes) -> None:
    found = classify(data)
    assert found is not None and found.protocol is None
    assert "no SMTP, POP3 or IMAP greeting" in found.describe()


def test_the_session_parser_consumes_what_it_read() -> None:
    assert parse_greeting(b"22") is None
    parsed = parse_greeting(b"220 mx ESMTP\r\n")
    assert parsed is not None and parsed[0].protocol is Protocol.SMTP and parsed[1] == 14
