"""A server that agrees to STARTTLS and then resets the connection (a crashing or overloaded daemon, seen from
Dovecot under load in bench/cluster_scale.py) ends the session as a TLS handshake error within its timeout.
Before, asyncio's start_tls waited for ever there (its own handshake timeout aborts an already closed
transport and nothing wakes the waiter), and the whole run with it."""

from __future__ import annotations

import asyncio
import socket
import struct

from mailprobe.config import Config, Limits
from mailprobe.engine import Stages, audit
from mailprobe.model import ProbeStatus, Service


async def _agree_then_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 reset.test ESMTP\r\n")
    while line := await reader.readline():
        verb = line[:4].upper()
        if verb == b"EHLO":
            writer.write(b"250-reset.test\r\n250 STARTTLS\r\n")
        elif verb == b"STAR":
            writer.write(b"220 go ahead\r\n")
            await writer.drain()
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            writer.transport.abort()
            return
        else:
            writer.write(b"250 OK\r\n")
        await writer.drain()


async def test_a_reset_right_after_starttls_ends_the_session() -> None:
    read_timeout = 1.0
    server = await asyncio.start_server(_agree_then_reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = Config(
        limits=Limits(connect_timeout=1, read_timeout=read_timeout, session_timeout=4),
        ports=((Service.SMTP, port),),
        services=(Service.SMTP,),
        allow_nonpublic=True,
    )
    try:
        report = await asyncio.wait_for(audit(["127.0.0.1"], cfg, Stages(dns=False, ports=False, handshake=True)), 15)
    finally:
        server.close()
        await server.wait_closed()
    (session,) = report.handshakes
    assert session.status is ProbeStatus.TLS_HANDSHAKE_ERROR
    assert session.elapsed_ms < (read_timeout + 2) * 1000
