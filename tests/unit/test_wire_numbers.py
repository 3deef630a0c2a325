"""Numbers from the wire are bounded before int() sees them (it refuses more than 4300 digits with a
ValueError): a server's 5000-digit size or length is a protocol fact, never a crash, and a crash in the
MTA-STS fetch or the DNS picture never costs the target its handshakes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import pytest

from mailprobe.config import Config, Limits, Resolver
from mailprobe.decimal_text import MAX_DIGITS, decimal_value, is_decimal
from mailprobe.demo.dns_server import DnsServer
from mailprobe.demo.pki import DemoPki
from mailprobe.dns import resolve
from mailprobe.dns.client import DnsClient
from mailprobe.dns.fetch import fetch_policy
from mailprobe.engine import Stages, audit
from mailprobe.errors import LimitExceeded, ProtocolViolation
from mailprobe.model import ErrorKind, MxHost, MxStatus, ProbeStatus, RecordStatus, Service
from mailprobe.protocols import imap, smtp
from mailprobe.protocols.http import HttpParseError, parse_http_response

NINES = "9" * 5000


def test_decimal_text_bounds() -> None:
    assert is_decimal("123") and is_decimal(NINES)  # the old contract holds without a bound
    assert not is_decimal(NINES, MAX_DIGITS) and is_decimal("9" * MAX_DIGITS, MAX_DIGITS)
    assert decimal_value("042") == 42
    assert decimal_value(NINES) is None and decimal_value("") is None and decimal_value("\u00b2") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: " + NINES.encode() + b"\r\n\r\nversion: STSv1\r\n",
        b"HTTP/1.1 " + NINES.encode() + b" OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 5000 + b"\r\nx\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n",
    ],
    ids=["content-length", "status", "status-4-digits", "chunk-size", "negative-chunk", "0x-chunk"],
)
def test_http_long_or_odd_numbers_are_parse_errors(raw: bytes) -> None:
    with pytest.raises(HttpParseError):
        parse_http_response(raw)


def test_http_numbers_within_bounds_still_parse() -> None:
    response = parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Length: 000003\r\n\r\nabcdef")
    assert (response.status, response.body) == (200, b"abc")
    chunked = parse_http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n")
    assert chunked.body == b"0123456789"


def _ehlo(size: str) -> tuple[smtp.Capability, ...]:
    raw = f"250-mx.example.test\r\n250-SIZE {size}\r\n250 STARTTLS\r\n".encode()
    parsed = smtp.parse_reply(raw)
    assert parsed is not None
    return smtp.parse_ehlo(parsed[0])


def test_smtp_size_of_5000_digits_is_no_size() -> None:
    assert smtp.size_limit(_ehlo(NINES)) is None
    assert smtp.size_limit(_ehlo("52428800")) == 52428800


def test_imap_literal_of_5000_digits_is_over_the_cap() -> None:
    with pytest.raises(LimitExceeded):
        imap.parse_greeting(b"* OK {" + NINES.encode() + b"}\r\n")
    with pytest.raises(ProtocolViolation):
        imap.parse_greeting(b"* OK {-" + NINES.encode() + b"}\r\n")
    assert imap.parse_greeting(b"* OK {3}\r\nabc ready\r\n") is not None


# -- the MTA-STS fetch: a response that crashes the parser is that record's error -----------------------------


@pytest.fixture(scope="module")
def pki() -> Iterator[DemoPki]:
    with DemoPki.create(["mta-sts.huge.sts.test"]) as created:
        yield created


ZONE = "$ORIGIN sts.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\nmta-sts.huge A 127.0.0.1\n"


async def _fetch_from(pki: DemoPki, answer: bytes) -> RecordStatus:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=pki.issue_context("mta-sts.huge.sts.test"))
    port = server.sockets[0].getsockname()[1]
    try:
        async with DnsServer([("sts.test", ZONE)]) as dns_server:
            cfg = Config(
                resolver=Resolver("127.0.0.1", dns_server.port),
                ca_file=pki.ca_pem_path,
                allow_nonpublic=True,
                limits=Limits(connect_timeout=2.0, read_timeout=3.0),
            )
            fetched = await fetch_policy("huge.sts.test", DnsClient.from_config(cfg), cfg, port)
    finally:
        server.close()
        await server.wait_closed()
    return fetched.status


async def test_policy_with_a_5000_digit_content_length_is_not_http(pki: DemoPki) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + NINES.encode() + b"\r\n\r\nv\r\n"
    assert await _fetch_from(pki, answer) is RecordStatus.NOT_HTTP


async def test_policy_parser_crash_is_the_records_error(pki: DemoPki, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(raw: bytes) -> object:
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    monkeypatch.setattr("mailprobe.dns.fetch.parse_http_response", crash)
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    assert await _fetch_from(pki, answer) is RecordStatus.NOT_HTTP


# -- the engine: a DNS picture that fails keeps the sessions that run and the ones that finished --------------


class SlowSmtp:
    """SMTP that waits `delay` before its greeting: the session is running when the picture fails."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(self.delay)
            writer.write(b"220 mx.numbers.test ESMTP\r\n")
            while line := await reader.readline():
                verb = line.split(b" ", 1)[0].strip().upper()
                writer.write(b"250-mx.numbers.test\r\n250 8BITMIME\r\n" if verb == b"EHLO" else b"250 ok\r\n")
                await writer.drain()
                if verb == b"QUIT":
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def _failing_picture(after: float) -> Callable[..., object]:
    async def resolve_domain(
        name: str, cfg: Config, *, on_addresses: Callable[[MxStatus, tuple[MxHost, ...]], None] | None = None
    ) -> object:
        if on_addresses is not None:
            on_addresses(MxStatus.FOUND, (MxHost(10, "mx.numbers.test", ("127.0.0.1",)),))
        await asyncio.sleep(after)
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    return resolve_domain


@pytest.mark.parametrize("delay", [0.0, 0.6], ids=["finished-before", "running-when-it-fails"])
async def test_a_failing_dns_picture_keeps_the_handshakes(monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
    monkeypatch.setattr(resolve, "resolve_domain", _failing_picture(0.3))
    stub = SlowSmtp(delay)
    server = await asyncio.start_server(stub.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = Config(
            limits=Limits(connect_timeout=2.0, read_timeout=2.0, session_timeout=6.0),
            resolver=Resolver("127.0.0.1", 9),  # never asked: the picture is the stand-in above
            ports=((Service.SMTP, port),),
            services=(Service.SMTP,),
            allow_nonpublic=True,
        )
        report = await audit(["numbers.test"], cfg, Stages(dns=True, ports=False, handshake=True))
    finally:
        server.close()
        await server.wait_closed()
    assert [h.status for h in report.handshakes] == [ProbeStatus.SUCCESS], report.handshakes
    assert [e.kind for e in report.errors] == [ErrorKind.INTERNAL]
    assert "DNS" in report.errors[0].message and "4300" in report.errors[0].message
