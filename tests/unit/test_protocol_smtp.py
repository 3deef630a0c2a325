"""SMTP parser: recorded replies, malformed input, and arbitrary bytes (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.errors import LimitExceeded, ProtocolViolation
from mailprobe.protocols import smtp

POSTFIX_EHLO = (
    b"250-mx1.lab.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"
)


def test_single_line_reply_and_remainder() -> None:
    reply, used = smtp.parse_reply(b"220 mx1.lab.test ESMTP Postfix (Debian/GNU)\r\nEXTRA") or pytest.fail()
    assert (reply.code, reply.lines) == (220, ("mx1.lab.test ESMTP Postfix (Debian/GNU)",))
    assert used == len(b"220 mx1.lab.test ESMTP Postfix (Debian/GNU)\r\n")
    assert smtp.greeting_host(reply) == "mx1.lab.test"


def test_multiline_ehlo_is_parsed_into_extensions() -> None:
    reply, used = smtp.parse_reply(POSTFIX_EHLO) or pytest.fail()
    assert used == len(POSTFIX_EHLO)
    caps = smtp.parse_ehlo(reply)
    assert [c.keyword for c in caps] == [
        "PIPELINING",
        "SIZE",
        "VRFY",
        "ETRN",
        "STARTTLS",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "DSN",
        "SMTPUTF8",
        "CHUNKING",
    ]
    assert smtp.size_limit(caps) == 10240000
    assert smtp.has(caps, "STARTTLS")


def test_auth_mechanisms_include_the_old_auth_equals_form() -> None:
    reply, _ = smtp.parse_reply(b"250-mx\r\n250-AUTH PLAIN login\r\n250 AUTH=LOGIN CRAM-MD5\r\n") or pytest.fail()
    assert smtp.auth_mechanisms(smtp.parse_ehlo(reply)) == ("PLAIN", "LOGIN", "CRAM-MD5")


@pytest.mark.parametrize("cut", [1, 5, 20, len(POSTFIX_EHLO) - 1])
def test_incomplete_reply_asks_for_more(cut: int) -> None:
    assert smtp.parse_reply(POSTFIX_EHLO[:cut]) is None


def test_code_must_not_change_inside_a_reply() -> None:
    with pytest.raises(ProtocolViolation, match="changed"):
        smtp.parse_reply(b"220-hello\r\n250 world\r\n")


def test_garbage_is_a_protocol_violation() -> None:
    with pytest.raises(ProtocolViolation):
        smtp.parse_reply(b"+OK dovecot ready\r\n")


def test_endless_line_hits_the_cap() -> None:
    with pytest.raises(LimitExceeded):
        smtp.parse_reply(b"220 " + b"x" * 9000, max_line=8192)


def test_thousands_of_lines_hit_the_line_count_cap() -> None:
    with pytest.raises(LimitExceeded):
        smtp.parse_reply(b"250-x\r\n" * 2000 + b"250 end\r\n", max_lines=1000)


def test_bare_lf_is_accepted() -> None:
    reply, _ = smtp.parse_reply(b"250-a\n250 b\n") or pytest.fail()
    assert reply.lines == ("a", "b")


def test_undecodable_bytes_are_kept_visibly() -> None:
    reply, _ = smtp.parse_reply(b"220 caf\xe9 \x1b[31m\r\n") or pytest.fail()
    assert "\\xe9" in reply.text and "\x1b" in reply.text  # escaping for display is the renderer's job
    assert reply.raw == b"220 caf\xe9 \x1b[31m\r\n"


@given(st.binary(max_size=400))
def test_any_bytes_give_a_reply_more_or_a_classified_error(data: bytes) -> None:
    try:
        result = smtp.parse_reply(data, max_line=64)
    except (ProtocolViolation, LimitExceeded):
        return
    if result is not None:
        reply, used = result
        assert 0 < used <= len(data)
        assert reply.raw == data[:used]
        assert 200 <= reply.code <= 599


@given(
    st.lists(
        st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
        min_size=1,
        max_size=8,
    )
)
def test_generated_multiline_replies_round_trip(lines: list[str]) -> None:
    wire = b"".join(f"250{'-' if i < len(lines) - 1 else ' '}{text}\r\n".encode() for i, text in enumerate(lines))
    reply, used = smtp.parse_reply(wire) or pytest.fail()
    assert used == len(wire)
    assert reply.lines == tuple(lines)
