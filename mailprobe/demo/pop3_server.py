"""The demo POP3 server (RFC 1939, CAPA and RESP-CODES from RFC 2449, STLS from RFC 2595).

Enough of POP3 for a capability probe: an APOP-style greeting, CAPA that changes with TLS, STLS, QUIT.
Every credential is refused; USER and SASL are offered only over TLS unless built otherwise.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time

from mailprobe.demo.lineserver import LineConnection, Listener
from mailprobe.demo.smtp_server import DEMO_HOSTNAME


class Pop3Connection(LineConnection):
    def __init__(self, listener: Listener, server: Pop3Server) -> None:
        super().__init__(listener, idle_timeout=server.timeout, max_line=server.max_line)
        self.server = server

    def capabilities(self) -> list[str]:
        caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING"]
        if self.server.stls_context is not None and not self.tls:
            caps.append("STLS")
        if self.tls or self.server.allow_plaintext_auth:
            caps += ["USER", "SASL PLAIN"]
        caps.append("IMPLEMENTATION mailprobe-demo")
        return caps

    async def session(self) -> None:
        stamp = f"<{os.getpid()}.{time.time_ns()}@{self.server.hostname}>"
        self.write(f"+OK {stamp} demo POP3 ready\r\n".encode())
        while True:
            line = await self.read_line()
            if line is None:
                return
            verb = line.split(b" ", 1)[0].upper()
            if verb == b"QUIT":
                self.write(b"+OK mailprobe demo POP3 signing off\r\n")
                return
            if verb == b"STLS":
                await self._stls()
                continue
            self.write(self._answer(verb))

    def _answer(self, verb: bytes) -> bytes:
        if verb == b"CAPA":
            body = "".join(f"{cap}\r\n" for cap in self.capabilities())
            return f"+OK Capability list follows\r\n{body}.\r\n".encode()
        if verb == b"NOOP":
            return b"+OK\r\n"
        if verb in (b"USER", b"PASS", b"APOP", b"AUTH"):
            if not self.tls and not self.server.allow_plaintext_auth:
                return b"-ERR [AUTH] Plaintext authentication disallowed on non-secure connections\r\n"
            if verb == b"USER":
                return b"+OK\r\n"
            return b"-ERR [AUTH] Authentication failed (the demo accepts no credentials)\r\n"
        return b"-ERR Unknown command\r\n"

    async def _stls(self) -> None:
        ctx = self.server.stls_context
        if self.tls:
            self.write(b"-ERR Command not permitted when TLS active\r\n")
            return
        if ctx is None:
            self.write(b"-ERR STLS not supported\r\n")
            return
        self.write(b"+OK Begin TLS negotiation\r\n")
        await self.start_tls(ctx)


class Pop3Server(Listener):
    """A demo POP3 listener: plaintext with STLS (110 role) or, with implicit_tls, TLS at once (995 role)."""

    def __init__(
        self,
        tls_context: ssl.SSLContext | None,
        *,
        implicit_tls: bool = False,
        starttls: bool = True,
        allow_plaintext_auth: bool = False,
        hostname: str = DEMO_HOSTNAME,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 30.0,
        max_line: int = 8192,
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit TLS needs a tls_context")
        self.hostname = hostname
        self.allow_plaintext_auth = allow_plaintext_auth
        self.stls_context = tls_context if starttls and not implicit_tls else None
        self.timeout = timeout
        self.max_line = max_line

        def make(listener: Listener) -> asyncio.Protocol:
            return Pop3Connection(listener, self)

        super().__init__(make, host=host, port=port, tls=tls_context if implicit_tls else None)
