"""Each hostile mode does what it claims, and even the endless ones end (client gone, or server bounds)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import time
from collections.abc import Iterator

import pytest
from hostile_server import (
    HUGE_LITERAL,
    INJECTED_MARK,
    NASTY_TEXT,
    NEGATIVE_LITERAL,
    HostileMode,
    HostileServer,
)
from streams import close, line, needs_stream_start_tls, open_stream, run

from mailprobe.demo.pki import DemoPki
from mailprobe.model import Protocol

NAME = "hostile.demo.mailprobe.test"


@pytest.fixture(scope="module")
def pki() -> Iterator[DemoPki]:
    with DemoPki.create([NAME]) as made:
        yield made


connect = functools.partial(open_stream, name=NAME)


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = 5) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout)


async def nothing_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), seconds)
    except asyncio.TimeoutError:
        return True
    return False


async def reply(reader: asyncio.StreamReader, protocol: Protocol, tag: bytes = b"") -> bytes:
    """One whole reply: SMTP to its last line, POP3 CAPA to its dot, IMAP to the tagged line."""
    lines = [await line(reader)]
    while True:
        last = lines[-1]
        if protocol is Protocol.SMTP and last[3:4] != b"-":
            break
        if protocol is Protocol.POP3 and (last == b".\r\n" or last.startswith(b"-ERR")):
            break
        if protocol is Protocol.IMAP and last.startswith(tag + b" "):
            break
        lines.append(await line(reader))
    return b"".join(lines)


async def until_idle(server: HostileServer, limit: float = 2.0) -> float:
    """Seconds until the server has no live connection (fails the test past `limit`)."""
    started = time.monotonic()
    while server.connection_count:
        assert time.monotonic() - started < limit, "the hostile connection outlived its client"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


# --- greetings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "prefix"), [(Protocol.SMTP, b"220 "), (Protocol.POP3, b"+OK "), (Protocol.IMAP, b"* OK ")]
)
def test_nasty_banner_carries_every_dangerous_byte(protocol: Protocol, prefix: bytes) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.NASTY_BANNER, protocol) as server:
            reader, writer = await connect(server.port)
            greeting = await line(reader)
            assert greeting == prefix + NASTY_TEXT + b"\r\n"
            for needle in (b"\x1b[", b"<script>", b"`", b"\x00", b"|", b"[x](y)", b"\xff"):
                assert needle in greeting
            await close(writer)

    run(go())


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [(Protocol.SMTP, b"421 4.3.2 "), (Protocol.POP3, b"-ERR [SYS/TEMP]"), (Protocol.IMAP, b"* BYE [UNAVAILABLE]")],
)
def test_greeting_421_then_close(protocol: Protocol, expected: bytes) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.GREETING_421, protocol) as server:
            reader, writer = await connect(server.port)
            data = await read_to_eof(reader)
            assert data.startswith(expected) and data.count(b"\r\n") == 1
            await close(writer)

    run(go())


def test_greeting_554_answers_503_until_quit() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.GREETING_554) as server:
            reader, writer = await connect(server.port)
            assert (await line(reader)).startswith(b"554 5.3.2 ")
            writer.write(b"EHLO client.test\r\n")
            assert (await line(reader)).startswith(b"503 ")
            writer.write(b"QUIT\r\n")
            assert (await line(reader)).startswith(b"221 ")
            assert await read_to_eof(reader) == b""
            await close(writer)

    run(go())


def test_bad_continuation_greeting() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.BAD_CONTINUATION) as server:
            reader, writer = await connect(server.port)
            lines = [await line(reader) for _ in range(3)]
            assert [x[:4] for x in lines] == [b"220-", b"250-", b"220 "]
            await close(writer)

    run(go())


def test_close_at_once_sends_nothing() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.CLOSE_AT_ONCE) as server:
            reader, writer = await connect(server.port)
            assert await read_to_eof(reader, 2) == b""
            await close(writer)

    run(go())


def test_silent_never_answers_and_ends_at_its_lifetime() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.SILENT, lifetime=0.4) as server:
            reader, writer = await connect(server.port)
            writer.write(b"EHLO client.test\r\n")
            assert await nothing_within(reader, 0.2)
            started = time.monotonic()
            assert await read_to_eof(reader, 3) == b""
            assert time.monotonic() - started < 2
            assert bytes(server.history[0].received) == b"EHLO client.test\r\n"
            await close(writer)

    run(go())


def test_reset_after_greeting_sends_rst() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.RESET_AFTER_GREETING) as server:
            reader, writer = await connect(server.port)
            assert (await line(reader)).startswith(b"220 ")
            writer.write(b"EHLO client.test\r\n")
            with pytest.raises(ConnectionResetError):
                await read_to_eof(reader)
            await close(writer)

    run(go())


# --- endless modes -----------------------------------------------------------------------------------


def test_drip_sends_one_byte_at_a_time_and_stops_when_the_client_leaves() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.DRIP, interval=0.02) as server:
            reader, writer = await connect(server.port)
            started = time.monotonic()
            chunks: list[bytes] = []
            while sum(map(len, chunks)) < 8:
                chunks.append(await asyncio.wait_for(reader.read(8 - sum(map(len, chunks))), 2))
            assert b"".join(chunks) == b"220-stil"
            assert len(chunks) >= 4  # it arrives in dribs, not in one piece
            assert time.monotonic() - started >= 7 * 0.02 * 0.8
            await close(writer)
            await until_idle(server)
            sent = server.history[0].bytes_sent
            await asyncio.sleep(0.1)
            assert server.history[0].bytes_sent == sent  # nothing runs on after the client left

    run(go())


@pytest.mark.parametrize("protocol", [Protocol.POP3, Protocol.IMAP])
def test_drip_never_ends_the_greeting_line(protocol: Protocol) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.DRIP, protocol, interval=0.005, lifetime=0.3) as server:
            reader, writer = await connect(server.port)
            data = await read_to_eof(reader, 3)  # ends only because of the server's lifetime
            assert len(data) > 10 and b"\n" not in data
            await close(writer)

    run(go())


def test_endless_line_streams_without_crlf_until_the_client_leaves() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.ENDLESS_LINE) as server:
            reader, writer = await connect(server.port)
            received = 0
            while received < 1 << 20:
                chunk = await asyncio.wait_for(reader.read(65536), 2)
                assert chunk and b"\n" not in chunk
                received += len(chunk)
            await close(writer)
            await until_idle(server)
            assert server.history[0].bytes_sent < server.max_bytes

    run(go())


def test_endless_line_is_capped_by_max_bytes() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.ENDLESS_LINE, max_bytes=200_000) as server:
            reader, writer = await connect(server.port)
            data = await read_to_eof(reader, 5)
            assert data.startswith(b"220 ") and b"\n" not in data
            assert 200_000 <= len(data) < 200_000 + 20_000
            await close(writer)

    run(go())


def test_stop_ends_endless_connections_at_once() -> None:
    async def go() -> None:
        server = HostileServer(HostileMode.DRIP, interval=0.5, lifetime=60)
        await server.start()
        reader, writer = await connect(server.port)
        await asyncio.wait_for(reader.read(1), 2)
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 0.5 and server.connection_count == 0
        with contextlib.suppress(ConnectionResetError):
            assert await read_to_eof(reader, 2) == b""
        await close(writer)

    run(go())


# --- replies -----------------------------------------------------------------------------------------


def test_huge_reply_smtp() -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.HUGE_REPLY, huge_lines=3000) as server:
            reader, writer = await connect(server.port)
            await line(reader)
            writer.write(b"EHLO client.test\r\n")
            lines = [await line(reader)]
            while lines[-1].startswith(b"250-"):
                lines.append(await line(reader))
            assert len(lines) > 3000 and lines[-1].startswith(b"250 ")
            await close(writer)

    run(go())


@pytest.mark.parametrize(("protocol", "command"), [(Protocol.POP3, b"CAPA"), (Protocol.IMAP, b"h1 CAPABILITY")])
def test_huge_reply_pop3_imap(protocol: Protocol, command: bytes) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.HUGE_REPLY, protocol, huge_lines=2000) as server:
            reader, writer = await connect(server.port)
            await line(reader)
            writer.write(command + b"\r\n")
            end = b".\r\n" if protocol is Protocol.POP3 else b"h1 OK"
            lines = [await line(reader)]
            while not lines[-1].startswith(end):
                lines.append(await line(reader))
            assert len(lines) > 2000
            await close(writer)

    run(go())


@pytest.mark.parametrize(
    ("mode", "literal"),
    [(HostileMode.IMAP_HUGE_LITERAL, HUGE_LITERAL), (HostileMode.IMAP_NEGATIVE_LITERAL, NEGATIVE_LITERAL)],
)
def test_imap_literal_in_capability(mode: HostileMode, literal: bytes) -> None:
    async def go() -> None:
        async with HostileServer(mode, Protocol.IMAP) as server:
            reader, writer = await connect(server.port)
            assert (await line(reader)).startswith(b"* OK ")
            writer.write(b"c1 CAPABILITY\r\n")
            caps = await line(reader)
            assert caps.startswith(b"* CAPABILITY ") and caps.endswith(literal + b"\r\n")
            assert (await line(reader)).startswith(b"c1 OK")
            await close(writer)

    run(go())


# --- STARTTLS ----------------------------------------------------------------------------------------


@needs_stream_start_tls
@pytest.mark.parametrize(
    ("protocol", "caps", "starttls", "go_ahead"),
    [
        (Protocol.SMTP, b"EHLO client.test", b"STARTTLS", b"220 "),
        (Protocol.POP3, b"CAPA", b"STLS", b"+OK "),
        (Protocol.IMAP, b"t1 CAPABILITY", b"t2 STARTTLS", b"t2 OK "),
    ],
)
def test_starttls_injection(pki: DemoPki, protocol: Protocol, caps: bytes, starttls: bytes, go_ahead: bytes) -> None:
    async def go() -> None:
        server = HostileServer(HostileMode.STARTTLS_INJECTION, protocol, tls_context=pki.server_context())
        async with server:
            reader, writer = await connect(server.port)
            await line(reader)
            writer.write(caps + b"\r\n")
            offered = await reply(reader, protocol, b"t1")
            assert b"STARTTLS" in offered or b"STLS" in offered
            # The go-ahead and the injected reply arrive before the handshake; a careful client drops both.
            writer.write(starttls + b"\r\nNOOP pipelined\r\n")
            assert (await line(reader)).startswith(go_ahead)
            assert INJECTED_MARK in await line(reader)
            await writer.start_tls(pki.client_context(), server_hostname=NAME)
            writer.write(caps + b"\r\n")
            after = await reply(reader, protocol, b"t1")
            assert INJECTED_MARK not in after and b"STARTTLS" not in after and b"STLS" not in after
            assert server.history[0].discarded_at_starttls == b"NOOP pipelined\r\n"
            await close(writer)

    run(go())


@pytest.mark.parametrize(
    ("protocol", "caps", "starttls", "refusal"),
    [
        (Protocol.SMTP, b"EHLO client.test", b"STARTTLS", b"454 4.7.0 "),
        (Protocol.POP3, b"CAPA", b"STLS", b"-ERR "),
        (Protocol.IMAP, b"t1 CAPABILITY", b"t2 STARTTLS", b"t2 NO "),
    ],
)
def test_starttls_advertised_but_refused(protocol: Protocol, caps: bytes, starttls: bytes, refusal: bytes) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.STARTTLS_REFUSED, protocol) as server:
            reader, writer = await connect(server.port)
            await line(reader)
            writer.write(caps + b"\r\n")
            offered = await reply(reader, protocol, b"t1")
            assert b"STARTTLS" in offered or b"STLS" in offered
            writer.write(starttls + b"\r\n")
            assert (await line(reader)).startswith(refusal)
            await close(writer)

    run(go())


def test_plaintext_on_a_tls_port(pki: DemoPki) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.PLAINTEXT_ON_TLS_PORT, tls_context=pki.server_context()) as server:
            with pytest.raises(ssl.SSLError):
                await asyncio.wait_for(connect(server.port, pki.client_context()), 5)
            reader, writer = await connect(server.port)
            assert (await line(reader)).startswith(b"220 ")
            await close(writer)

    run(go())


def test_tls_on_a_plain_port(pki: DemoPki) -> None:
    async def go() -> None:
        async with HostileServer(HostileMode.TLS_ON_PLAIN_PORT, tls_context=pki.server_context()) as server:
            reader, writer = await connect(server.port)
            assert await nothing_within(reader, 0.2)  # waits for a ClientHello, never greets
            writer.write(b"EHLO client.test\r\n")  # not a ClientHello: the server hangs up
            with contextlib.suppress(ConnectionResetError):
                assert await read_to_eof(reader) == b""
            await close(writer)
            reader, writer = await connect(server.port, pki.client_context())
            assert (await line(reader)).startswith(b"220 ")
            await close(writer)

    run(go())


# --- construction ------------------------------------------------------------------------------------


def test_modes_are_checked_against_protocol_and_tls() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        HostileServer(HostileMode.IMAP_HUGE_LITERAL, Protocol.SMTP)
    with pytest.raises(ValueError, match="does not apply"):
        HostileServer(HostileMode.BAD_CONTINUATION, Protocol.POP3)
    with pytest.raises(ValueError, match="tls_context"):
        HostileServer(HostileMode.STARTTLS_INJECTION)
    with pytest.raises(ValueError, match="loopback"):
        HostileServer(HostileMode.SILENT, host="0.0.0.0")
