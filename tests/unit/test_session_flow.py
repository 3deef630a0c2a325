"""A session against servers that stress its flow rather than its parsers: a 421 that closes at once, a
greeting that fills the read buffer, a reply dripped a byte at a time, side sessions that are drip-fed. Each
ends with the status the server earned, within its deadline."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial

import pytest

from mailprobe.config import Config, Limits
from mailprobe.demo.pki import DemoPki
from mailprobe.model import ProbeStatus, Service, StartTlsOutcome, Target
from mailprobe.net.transport import Session
from mailprobe.probes.registry import handshake
from mailprobe.protocols import smtp

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
NAME = "mx.flow.test"
LIMITS = Limits(connect_timeout=2.0, read_timeout=2.0, session_timeout=6.0)


@pytest.fixture(scope="module")
def pki() -> Iterator[DemoPki]:
    with DemoPki.create([NAME]) as made:
        yield made


class _Served:
    """A loopback server whose connections are all closed (and their handlers ended) by `close()`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)  # type: ignore[arg-type]
        self.writers.add(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start(self, sock: socket.socket | None = None) -> int:
        if sock is not None:
            self.server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.writers:
            writer.close()
        pending = [task for task in self.tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0.01)  # the transports' close callbacks run


async def _serving(handler: Handler) -> tuple[_Served, int]:
    served = _Served(handler)
    return served, await served.start()


async def _dialogue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ehlo: bytes) -> None:
    while line := await reader.readline():
        verb = line.split(b" ", 1)[0].strip().upper()
        writer.write(ehlo if verb == b"EHLO" else b"221 bye\r\n" if verb == b"QUIT" else b"502 no\r\n")
        await writer.drain()


async def test_421_then_close_is_service_unavailable_not_closed() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"421 4.3.2 mx busy, try later\r\n")
        await writer.drain()
        writer.close()

    async def opener(address: str, port: int, limits: Limits, **options: object) -> Session:
        session = await Session.open(address, port, limits, **options)  # type: ignore[arg-type]
        receiver = session._receiver
        assert receiver is not None
        for _ in range(200):  # the close is seen before the greeting is read, every time
            if receiver.eof:
                break
            await asyncio.sleep(0.01)
        return session

    server, port = await _serving(serve)
    try:
        result = await handshake(Target(NAME, "127.0.0.1", port, Service.SMTP), Config(limits=LIMITS), opener)
    finally:
        await server.close()
    assert result.status is ProbeStatus.SERVICE_UNAVAILABLE, result.reason
    assert result.greeting_code == "421"


async def test_a_greeting_that_fills_the_buffer_then_the_next_reply_is_read_on() -> None:
    """~59 KB of greeting and ~14 KB of the EHLO reply in one burst: reading pauses past the cap
    (max_reply + max_line) and must resume once the greeting is consumed."""
    greeting = b"".join(b"220-%05d %s\r\n" % (i, b"g" * 90) for i in range(600)) + b"220 ready\r\n"
    early = b"".join(b"250-%05d %s\r\n" % (i, b"e" * 90) for i in range(140))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting + early)
        await writer.drain()
        await _dialogue(reader, writer, b"250 done\r\n")
        writer.close()

    server, port = await _serving(serve)
    try:
        result = await handshake(Target(NAME, "127.0.0.1", port, Service.SMTP), Config(limits=LIMITS))
    finally:
        await server.close()
    assert result.status is ProbeStatus.SUCCESS, result.reason
    assert len(result.capabilities_before) == 140


async def test_a_reply_dripped_byte_by_byte_is_parsed_per_line_not_per_byte() -> None:
    lines = 60
    body = b"".join(b"220-%02d %s\r\n" % (i, b"x" * 60) for i in range(lines)) + b"220 done\r\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in body:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0)
        await reader.read()
        writer.close()

    calls = 0

    def counting(buf: bytes) -> tuple[smtp.SmtpReply, int] | None:
        nonlocal calls
        calls += 1
        return smtp.parse_reply(buf)

    server, port = await _serving(serve)
    try:
        session = await Session.open("127.0.0.1", port, LIMITS)
        async with session:
            reply = await session.read(counting)
    finally:
        await server.close()
    assert len(reply.lines) == lines + 1 and reply.lines[-1] == "done"
    # A parse per line (and per arrival while the buffer is under 256 bytes), never one per byte (~4 K here).
    assert calls <= lines + 256 + 10, calls


async def test_a_dripped_line_longer_than_max_line_is_still_caught_at_once() -> None:
    """Without line ends the buffer is not parsed per byte, but the line cap holds exactly as before."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ")
        for _ in range(40):
            writer.write(b"y" * 100)
            await writer.drain()
            await asyncio.sleep(0)
        await reader.read()
        writer.close()

    server, port = await _serving(serve)
    limits = Limits(connect_timeout=2.0, read_timeout=2.0, session_timeout=6.0, max_line=1024, max_reply=16384)
    try:
        session = await Session.open("127.0.0.1", port, limits)
        async with session:
            with pytest.raises(Exception, match="line longer than 1024 bytes"):
                await session.read(partial(smtp.parse_reply, max_line=limits.max_line))
    finally:
        await server.close()


async def test_legacy_side_sessions_end_by_the_main_sessions_deadline(pki: DemoPki) -> None:
    """Every greeting is dripped (a byte per 0.1 s, under --timeout): the TLS 1.0/1.1 side sessions start
    late and must not hold the handshake past the main session's deadline."""
    context = pki.server_context()
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            for byte in b"220 mx.flow.test ESMTP\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
            while line := await reader.readline():
                verb = line.strip().upper()
                if verb.startswith(b"EHLO"):
                    writer.write(b"250-mx.flow.test\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    writer.write(b"220 go\r\n")
                    await writer.drain()
                    await writer.start_tls(context)
                else:
                    writer.write(b"502 no\r\n")
                await writer.drain()
        except (ConnectionError, ssl.SSLError, asyncio.CancelledError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    limits = Limits(connect_timeout=1.0, read_timeout=1.0, session_timeout=3.0)
    server, port = await _serving(serve)
    started = time.monotonic()
    try:
        cfg = Config(limits=limits, check_legacy_tls=True, ca_file=pki.ca_pem_path)
        result = await handshake(Target(NAME, "127.0.0.1", port, Service.SMTP), cfg)
    finally:
        await server.close()
    elapsed = time.monotonic() - started
    assert result.status is ProbeStatus.SUCCESS, result.reason
    assert result.starttls is StartTlsOutcome.OK
    assert connections >= 3  # the side sessions did connect
    assert elapsed < limits.session_timeout + 0.25, elapsed
    # Cut short before their handshakes: neither accepted nor refused, and said so (TLS-LEGACY-NOT-JUDGED).
    assert result.tls is not None
    assert (result.tls.legacy_versions, result.tls.legacy_unknown) == ((), ("TLSv1.0", "TLSv1.1"))
