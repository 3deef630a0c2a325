"""The demo IMAP server (RFC 3501 greeting, CAPABILITY, STARTTLS, LOGOUT; nothing behind the login).

Before TLS it says LOGINDISABLED and offers no AUTH=; after STARTTLS (or on the implicit-TLS port) it offers
AUTH=PLAIN, and every credential is refused. Flags make the weaker servers tests need: a PREAUTH greeting,
plaintext LOGIN allowed, no STARTTLS.
"""

from __future__ import annotations

import asyncio
import ssl

from mailprobe.demo.lineserver import LineConnection, Listener
from mailprobe.demo.smtp_server import DEMO_HOSTNAME

_POST_TLS_EXTRAS = ("CONDSTORE", "ENABLE", "LITERAL+", "NAMESPACE", "SASL-IR", "UIDPLUS")


class ImapConnection(LineConnection):
    def __init__(self, listener: Listener, server: ImapServer) -> None:
        super().__init__(listener, idle_timeout=server.timeout, max_line=server.max_line)
        self.server = server

    @property
    def login_allowed(self) -> bool:
        return self.tls or self.server.allow_plaintext_login

    def capabilities(self) -> list[str]:
        caps = ["IMAP4rev1"]
        if self.server.starttls_context is not None and not self.tls:
            caps.append("STARTTLS")
        if self.login_allowed:
            caps.append("AUTH=PLAIN")
        else:
            caps.append("LOGINDISABLED")
        caps += ["IDLE", "ID"]
        if self.tls:
            caps += _POST_TLS_EXTRAS
        return caps

    async def session(self) -> None:
        state = "PREAUTH" if self.server.preauth else "OK"
        caps = " ".join(self.capabilities())
        self.write(f"* {state} [CAPABILITY {caps}] {self.server.hostname} mailprobe demo IMAP ready\r\n".encode())
        while True:
            line = await self.read_line()
            if line is None:
                return
            tag, _, rest = line.partition(b" ")
            command = rest.split(b" ", 1)[0].upper()
            if not tag or not command:
                self.write(b"* BAD Missing tag or command\r\n")
                continue
            if command == b"LOGOUT":
                self.write(b"* BYE mailprobe demo IMAP logging out\r\n" + tag + b" OK LOGOUT completed\r\n")
                return
            if command == b"STARTTLS" and self._starttls_allowed():
                self.write(tag + b" OK Begin TLS negotiation now\r\n")
                assert self.server.starttls_context is not None
                await self.start_tls(self.server.starttls_context)
                continue
            untagged, status = self._answer(command)
            self.write(untagged + tag + b" " + status + b"\r\n")

    def _starttls_allowed(self) -> bool:
        return self.server.starttls_context is not None and not self.tls and not self.server.preauth

    def _answer(self, command: bytes) -> tuple[bytes, bytes]:
        """Untagged lines (with their CRLFs) and the tagged status (without the tag or CRLF)."""
        if command == b"CAPABILITY":
            caps = " ".join(self.capabilities())
            return f"* CAPABILITY {caps}\r\n".encode(), b"OK CAPABILITY completed"
        if command == b"NOOP":
            return b"", b"OK NOOP completed"
        if command == b"ID":
            return b'* ID ("name" "mailprobe-demo")\r\n', b"OK ID completed"
        if command == b"STARTTLS":
            if self.tls:
                return b"", b"BAD TLS is already active"
            if self.server.preauth:
                return b"", b"BAD STARTTLS not allowed in the authenticated state"
            return b"", b"BAD STARTTLS not supported"
        if command in (b"LOGIN", b"AUTHENTICATE"):
            if not self.login_allowed:
                return b"", b"NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections"
            return b"", b"NO [AUTHENTICATIONFAILED] Authentication failed (the demo accepts no credentials)"
        return b"", b"BAD Unknown command"


class ImapServer(Listener):
    """A demo IMAP listener: plaintext with STARTTLS (143 role) or, with implicit_tls, TLS at once (993 role)."""

    def __init__(
        self,
        tls_context: ssl.SSLContext | None,
        *,
        implicit_tls: bool = False,
        starttls: bool = True,
        preauth: bool = False,
        allow_plaintext_login: bool = False,
        hostname: str = DEMO_HOSTNAME,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 30.0,
        max_line: int = 8192,
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit TLS needs a tls_context")
        self.hostname = hostname
        self.preauth = preauth
        self.allow_plaintext_login = allow_plaintext_login
        self.starttls_context = tls_context if starttls and not implicit_tls else None
        self.timeout = timeout
        self.max_line = max_line

        def make(listener: Listener) -> asyncio.Protocol:
            return ImapConnection(listener, self)

        super().__init__(make, host=host, port=port, tls=tls_context if implicit_tls else None)
