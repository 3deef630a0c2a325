"""POP3 and IMAP parsers: recorded Dovecot dialogues, literals, hostile input, hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.errors import LimitExceeded, ProtocolViolation
from mailprobe.protocols import imap, pop3

DOVECOT_CAPA = (
    b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\n"
    b"SASL PLAIN LOGIN\r\n.\r\n"
)


def test_pop3_greeting_with_apop_timestamp() -> None:
    reply, _ = pop3.parse_status(b"+OK <1896.697170952@dbc.mtview.ca.us> POP3 ready\r\n") or pytest.fail()
    assert reply.ok
    assert pop3.apop_timestamp(reply) == "<1896.697170952@dbc.mtview.ca.us>"


def test_pop3_capa_and_mechanisms() -> None:
    reply, used = pop3.parse_multiline(DOVECOT_CAPA) or pytest.fail()
    assert used == len(DOVECOT_CAPA)
    caps = pop3.parse_capa(reply)
    assert "STLS" in [c.keyword for c in caps]
    assert pop3.sasl_mechanisms(caps) == ("PLAIN", "LOGIN")


def test_pop3_expire_zero_means_delete_after_download() -> None:
    reply, _ = pop3.parse_multiline(b"+OK\r\nEXPIRE 0\r\n.\r\n") or pytest.fail()
    assert pop3.expire_policy(pop3.parse_capa(reply)) == "0"


def test_pop3_dot_stuffing_and_incomplete() -> None:
    assert pop3.parse_multiline(b"+OK\r\nTOP\r\n") is None
    reply, _ = pop3.parse_multiline(b"+OK\r\n..hidden\r\n.\r\n") or pytest.fail()
    assert reply.lines == (".hidden",)


def test_pop3_err_has_no_body_and_garbage_is_refused() -> None:
    reply, used = pop3.parse_multiline(b"-ERR no\r\nrest") or pytest.fail()
    assert not reply.ok and used == 9
    with pytest.raises(ProtocolViolation):
        pop3.parse_status(b"220 smtp here\r\n")


DOVECOT_GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] "
    b"Dovecot (Debian) ready.\r\n"
)


def test_imap_greeting_carries_capabilities() -> None:
    reply, used = imap.parse_greeting(DOVECOT_GREETING) or pytest.fail()
    assert used == len(DOVECOT_GREETING)
    assert reply.status == "OK"
    caps = imap.capabilities(reply)
    assert imap.has(caps, "STARTTLS") and imap.has(caps, "LOGINDISABLED")


def test_imap_preauth_and_bye_greetings() -> None:
    assert (imap.parse_greeting(b"* PREAUTH logged in\r\n") or pytest.fail())[0].status == "PREAUTH"
    assert (imap.parse_greeting(b"* BYE too many connections\r\n") or pytest.fail())[0].status == "BYE"
    with pytest.raises(ProtocolViolation):
        imap.parse_greeting(b"a1 OK not a greeting\r\n")


def test_imap_tagged_response_with_untagged_capability() -> None:
    wire = b"* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN IDLE\r\nmp1 OK Pre-login capabilities listed.\r\n"
    reply, used = imap.parse_tagged(wire, "mp1") or pytest.fail()
    assert used == len(wire)
    assert imap.auth_mechanisms(imap.capabilities(reply)) == ("PLAIN", "LOGIN")
    assert imap.parse_tagged(wire[:-3], "mp1") is None


def test_imap_literal_is_read_whole() -> None:
    wire = b'* ID ("name" {7}\r\nDove\r\nc)\r\nmp1 OK done\r\n'
    reply, used = imap.parse_tagged(wire, "mp1") or pytest.fail()
    assert used == len(wire) and reply.status == "OK"


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"* CAPABILITY {9999999999}\r\n", LimitExceeded),
        (b"* CAPABILITY {-1}\r\n", ProtocolViolation),
        (b"mp1 MAYBE\r\n", ProtocolViolation),
        (b"junk line\r\n", ProtocolViolation),
    ],
)
def test_imap_hostile_responses_are_classified(wire: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        imap.parse_tagged(wire, "mp1", max_literal=65536)


@given(st.binary(max_size=300))
def test_imap_any_bytes_are_safe(data: bytes) -> None:
    try:
        result = imap.parse_tagged(data, "mp1", max_line=64, max_literal=128)
    except (ProtocolViolation, LimitExceeded):
        return
    if result is not None:
        assert 0 < result[1] <= len(data)


@given(st.binary(max_size=300))
def test_pop3_any_bytes_are_safe(data: bytes) -> None:
    try:
        result = pop3.parse_multiline(data, max_line=64)
    except (ProtocolViolation, LimitExceeded):
        return
    if result is not None:
        assert result[0].raw == data[: result[1]]
