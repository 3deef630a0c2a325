"""A slow server is not a broken one.

A TLS handshake the server never finishes is a timeout (tls-handshake-timeout), judged as a dialogue that did
not complete, never as "TLS handshake failed" with advice about certificates. A session that times out while
other sessions of the run go to the same network is tried once more after them, and the verdict is the second
session's, with both counted; a session that timed out alone is the verdict at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mailprobe.config import Config, Limits
from mailprobe.engine import Stages, audit
from mailprobe.model import ProbeStatus, Report, Service

SESSIONS_ONLY = Stages(dns=False, ports=False, handshake=True)
READ_TIMEOUT = 0.5


class SmtpServer:
    """Plain SMTP without STARTTLS (or with STARTTLS it never goes through with); its first `silent_for`
    connections are accepted and never answered."""

    def __init__(self, *, silent_for: int = 0, starttls_then_silent: bool = False) -> None:
        self.silent_for = silent_for
        self.starttls_then_silent = starttls_then_silent
        self.silent_sessions = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.silent_sessions < self.silent_for:  # accepted, then nothing: an overloaded daemon
                self.silent_sessions += 1
                await reader.read()
                return
            writer.write(b"220 busy.test ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    extension = b"250 STARTTLS\r\n" if self.starttls_then_silent else b"250 8BITMIME\r\n"
                    writer.write(b"250-busy.test\r\n" + extension)
                elif verb == b"STAR":
                    writer.write(b"220 go ahead\r\n")
                    await writer.drain()
                    await reader.read()  # the ClientHello is never answered
                    return
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def listening(server: SmtpServer, count: int) -> AsyncIterator[list[int]]:
    servers = [await asyncio.start_server(server.serve, "127.0.0.1", 0) for _ in range(count)]
    try:
        yield [s.sockets[0].getsockname()[1] for s in servers]
    finally:
        for s in servers:
            s.close()
        for s in servers:
            await s.wait_closed()


def config(ports: list[int]) -> Config:
    services = (Service.SMTP, Service.SUBMISSION)[: len(ports)]
    return Config(
        limits=Limits(connect_timeout=1, read_timeout=READ_TIMEOUT, session_timeout=4),
        ports=tuple(zip(services, ports, strict=True)),
        services=services,
        allow_nonpublic=True,
    )


async def run(ports: list[int]) -> Report:
    return await asyncio.wait_for(audit(["127.0.0.1"], config(ports), SESSIONS_ONLY), 20)


async def test_a_tls_handshake_the_server_never_finishes_is_a_timeout_not_a_tls_failure() -> None:
    async with listening(SmtpServer(starttls_then_silent=True), 1) as ports:
        report = await run(ports)
    (session,) = report.handshakes
    assert session.status is ProbeStatus.TLS_HANDSHAKE_TIMEOUT
    assert session.sessions == 1  # alone on its network: nothing to blame but the server
    assert session.tls_error == f"no TLS handshake reply within {READ_TIMEOUT:g} s"
    codes = {f.code: f for f in report.findings}
    assert "TLS-HANDSHAKE-FAILED" not in codes  # its advice (certificate, key, protocols) was not measured
    assert codes["HANDSHAKE-FAILED"].evidence == f"tls-handshake-timeout: {session.reason}"


async def test_sessions_that_timed_out_beside_each_other_are_tried_again_and_judged_by_the_second() -> None:
    server = SmtpServer(silent_for=2)  # both first sessions; the later ones (a look for TLS, the retries) answered
    async with listening(server, 2) as ports:
        report = await run(ports)
    assert server.silent_sessions == 2
    assert [(h.status, h.sessions) for h in report.handshakes] == [(ProbeStatus.SUCCESS, 2)] * 2
    assert not [f for f in report.findings if f.code == "HANDSHAKE-FAILED"]


async def test_a_server_that_stays_silent_is_judged_after_the_second_session_which_the_evidence_names() -> None:
    server = SmtpServer(silent_for=1000)
    async with listening(server, 2) as ports:
        report = await run(ports)
    assert [(h.status, h.sessions) for h in report.handshakes] == [(ProbeStatus.IO_TIMEOUT, 2)] * 2
    (finding,) = [f for f in report.findings if f.code == "HANDSHAKE-FAILED"]
    assert len(finding.places) == 2
    assert "(session 2: the first timed out beside other sessions to its network)" in finding.evidence


async def test_a_session_that_timed_out_alone_is_not_tried_again() -> None:
    server = SmtpServer(silent_for=1000)
    async with listening(server, 1) as ports:
        report = await run(ports)
    (session,) = report.handshakes
    assert (session.status, session.sessions) == (ProbeStatus.IO_TIMEOUT, 1)
    assert server.silent_sessions == 2  # the session and its side look for TLS on the port: no second session
