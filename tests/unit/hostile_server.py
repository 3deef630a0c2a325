"""A misbehaving mail server for robustness tests of the client: one named misbehaviour per server.

Each HostileMode does one thing wrong and, apart from that, speaks a minimal version of its protocol
(greeting, EHLO/CAPA/CAPABILITY, STARTTLS/STLS, QUIT/LOGOUT), so the client gets as far as the fault.
Endless modes stop when the client goes away and are bounded server-side by `lifetime` (and `max_bytes`).
Every connection is kept in `HostileServer.history` with what the client sent, for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from dataclasses import dataclass
from enum import Enum

from mailprobe.demo.lineserver import LineConnection, Listener
from mailprobe.model import Protocol

HOSTNAME = "hostile.demo.mailprobe.test"

# Terminal escapes, markup, shell and table metacharacters, a NUL, a lone CR and bytes that are not UTF-8:
# everything a renderer must neutralise before showing a banner.
NASTY_TEXT = (
    b"\x1b[31;1mRED\x1b[0m \x1b]0;owned\x07 <script>alert(1)</script> `id` $(id) "
    b"NUL\x00here pipe|cell [x](y) **bold** \xff\xfe lone\rCR"
)
INJECTED_MARK = b"INJECTED"
HUGE_LITERAL = b"{9999999999}"
NEGATIVE_LITERAL = b"{-1}"
_HISTORY_CAP = 256
_RECEIVED_CAP = 64 * 1024


class HostileMode(str, Enum):
    NASTY_BANNER = "nasty-banner"  # greeting full of escapes, markup, NUL, non-UTF-8
    DRIP = "drip"  # greeting one byte per `interval`, never complete
    ENDLESS_LINE = "endless-line"  # greeting line without CRLF, bytes as fast as the client reads
    HUGE_REPLY = "huge-reply"  # EHLO/CAPA/CAPABILITY answered with `huge_lines` lines
    IMAP_HUGE_LITERAL = "imap-huge-literal"  # {9999999999} in the CAPABILITY response
    IMAP_NEGATIVE_LITERAL = "imap-negative-literal"  # {-1} in the CAPABILITY response
    STARTTLS_INJECTION = "starttls-injection"  # STARTTLS "go ahead" plus an extra reply, same write
    STARTTLS_REFUSED = "starttls-refused"  # advertised, then refused (454 4.7.0 / -ERR / NO)
    PLAINTEXT_ON_TLS_PORT = "plaintext-on-tls-port"  # greets in plaintext at once (client expects TLS)
    TLS_ON_PLAIN_PORT = "tls-on-plain-port"  # waits for a TLS ClientHello (client expects a greeting)
    GREETING_421 = "greeting-421"  # service not available, then close
    GREETING_554 = "greeting-554"  # no service here (SMTP: then 503 to all but QUIT)
    CLOSE_AT_ONCE = "close-at-once"  # accept and close without a byte
    SILENT = "silent"  # accept and never answer
    BAD_CONTINUATION = "bad-continuation"  # SMTP multi-line greeting with a 250 continuation line
    RESET_AFTER_GREETING = "reset-after-greeting"  # greet, then RST on the first command

    @property
    def needs_tls(self) -> bool:
        return self in (HostileMode.STARTTLS_INJECTION, HostileMode.TLS_ON_PLAIN_PORT)

    def supports(self, protocol: Protocol) -> bool:
        if self in (HostileMode.IMAP_HUGE_LITERAL, HostileMode.IMAP_NEGATIVE_LITERAL):
            return protocol is Protocol.IMAP
        if self is HostileMode.BAD_CONTINUATION:
            return protocol is Protocol.SMTP
        return True


@dataclass(frozen=True, slots=True)
class _Command:
    tag: bytes  # IMAP only; b"" elsewhere
    kind: str  # "caps", "starttls", "quit", "other"


class _Dialect:
    """The words of one protocol that the hostile server needs."""

    protocol: Protocol

    def greeting(self, text: bytes) -> bytes:
        raise NotImplementedError

    def parse(self, line: bytes) -> _Command:
        raise NotImplementedError

    def caps(self, tag: bytes, names: list[bytes], filler: int) -> bytes:
        raise NotImplementedError

    def starttls_go(self, tag: bytes) -> bytes:
        raise NotImplementedError

    def starttls_refused(self, tag: bytes) -> bytes:
        raise NotImplementedError

    def injected(self) -> bytes:
        raise NotImplementedError

    def bye(self, tag: bytes) -> bytes:
        raise NotImplementedError

    def unknown(self, tag: bytes) -> bytes:
        raise NotImplementedError

    def unavailable(self) -> bytes:
        raise NotImplementedError

    def no_service(self) -> bytes:
        raise NotImplementedError

    def base_caps(self, starttls: bool) -> list[bytes]:
        raise NotImplementedError

    def drip_stream(self) -> tuple[bytes, bytes]:
        """(prefix, repeating body): a greeting that never completes."""
        raise NotImplementedError


def _verb(word: bytes) -> bytes:
    return word.split(b" ", 1)[0].upper()


class _Smtp(_Dialect):
    protocol = Protocol.SMTP

    def greeting(self, text: bytes) -> bytes:
        return b"220 " + text + b"\r\n"

    def parse(self, line: bytes) -> _Command:
        verb = _verb(line)
        kind = {b"EHLO": "caps", b"HELO": "caps", b"STARTTLS": "starttls", b"QUIT": "quit"}.get(verb, "other")
        return _Command(b"", kind)

    def caps(self, tag: bytes, names: list[bytes], filler: int) -> bytes:
        lines = [HOSTNAME.encode(), *names, *(b"X-FILLER-%d" % i for i in range(filler))]
        return b"".join(b"250-" + x + b"\r\n" for x in lines[:-1]) + b"250 " + lines[-1] + b"\r\n"

    def starttls_go(self, tag: bytes) -> bytes:
        return b"220 2.0.0 Ready to start TLS\r\n"

    def starttls_refused(self, tag: bytes) -> bytes:
        return b"454 4.7.0 TLS not available due to local problem\r\n"

    def injected(self) -> bytes:
        return b"250-" + INJECTED_MARK + b"\r\n"

    def bye(self, tag: bytes) -> bytes:
        return b"221 2.0.0 Bye\r\n"

    def unknown(self, tag: bytes) -> bytes:
        return b"502 5.5.2 Command not recognised\r\n"

    def unavailable(self) -> bytes:
        return b"421 4.3.2 " + HOSTNAME.encode() + b" Service not available, closing transmission channel\r\n"

    def no_service(self) -> bytes:
        return b"554 5.3.2 " + HOSTNAME.encode() + b" No SMTP service here\r\n"

    def base_caps(self, starttls: bool) -> list[bytes]:
        return [b"PIPELINING", b"8BITMIME", *([b"STARTTLS"] if starttls else [])]

    def drip_stream(self) -> tuple[bytes, bytes]:
        return b"", b"220-still greeting\r\n"


class _Pop3(_Dialect):
    protocol = Protocol.POP3

    def greeting(self, text: bytes) -> bytes:
        return b"+OK " + text + b"\r\n"

    def parse(self, line: bytes) -> _Command:
        verb = _verb(line)
        return _Command(b"", {b"CAPA": "caps", b"STLS": "starttls", b"QUIT": "quit"}.get(verb, "other"))

    def caps(self, tag: bytes, names: list[bytes], filler: int) -> bytes:
        lines = [*names, *(b"X-FILLER-%d" % i for i in range(filler))]
        return b"+OK Capability list follows\r\n" + b"".join(x + b"\r\n" for x in lines) + b".\r\n"

    def starttls_go(self, tag: bytes) -> bytes:
        return b"+OK Begin TLS negotiation\r\n"

    def starttls_refused(self, tag: bytes) -> bytes:
        return b"-ERR [SYS/TEMP] TLS not available\r\n"

    def injected(self) -> bytes:
        return b"+OK " + INJECTED_MARK + b"\r\n"

    def bye(self, tag: bytes) -> bytes:
        return b"+OK Bye\r\n"

    def unknown(self, tag: bytes) -> bytes:
        return b"-ERR Unknown command\r\n"

    def unavailable(self) -> bytes:
        return b"-ERR [SYS/TEMP] Service not available\r\n"

    def no_service(self) -> bytes:
        return b"-ERR [SYS/PERM] No POP3 service here\r\n"

    def base_caps(self, starttls: bool) -> list[bytes]:
        return [b"UIDL", b"RESP-CODES", *([b"STLS"] if starttls else [])]

    def drip_stream(self) -> tuple[bytes, bytes]:
        return b"+OK ", b"still greeting "


class _Imap(_Dialect):
    protocol = Protocol.IMAP

    def greeting(self, text: bytes) -> bytes:
        return b"* OK " + text + b"\r\n"

    def parse(self, line: bytes) -> _Command:
        tag, _, rest = line.partition(b" ")
        verb = _verb(rest)
        kind = {b"CAPABILITY": "caps", b"STARTTLS": "starttls", b"LOGOUT": "quit"}.get(verb, "other")
        return _Command(tag or b"*", kind)

    def caps(self, tag: bytes, names: list[bytes], filler: int) -> bytes:
        alerts = b"".join(b"* OK [ALERT] filler line %d\r\n" % i for i in range(filler))
        return alerts + b"* CAPABILITY " + b" ".join(names) + b"\r\n" + tag + b" OK CAPABILITY completed\r\n"

    def starttls_go(self, tag: bytes) -> bytes:
        return tag + b" OK Begin TLS negotiation now\r\n"

    def starttls_refused(self, tag: bytes) -> bytes:
        return tag + b" NO [UNAVAILABLE] TLS not available\r\n"

    def injected(self) -> bytes:
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN " + INJECTED_MARK + b"\r\n"

    def bye(self, tag: bytes) -> bytes:
        return b"* BYE Logging out\r\n" + tag + b" OK LOGOUT completed\r\n"

    def unknown(self, tag: bytes) -> bytes:
        return tag + b" BAD Unknown command\r\n"

    def unavailable(self) -> bytes:
        return b"* BYE [UNAVAILABLE] Service not available\r\n"

    def no_service(self) -> bytes:
        return b"* BYE No IMAP service here\r\n"

    def base_caps(self, starttls: bool) -> list[bytes]:
        return [b"IMAP4rev1", *([b"STARTTLS"] if starttls else [])]

    def drip_stream(self) -> tuple[bytes, bytes]:
        return b"* OK ", b"still greeting "


_DIALECTS: dict[Protocol, _Dialect] = {Protocol.SMTP: _Smtp(), Protocol.POP3: _Pop3(), Protocol.IMAP: _Imap()}


class HostileConnection(LineConnection):
    def __init__(self, listener: Listener, server: HostileServer) -> None:
        super().__init__(listener, idle_timeout=server.idle_timeout, lifetime=server.lifetime)
        self.server = server
        self.dialect = _DIALECTS[server.protocol]
        self.received = bytearray()  # everything the client sent (capped), plaintext and TLS alike
        self.discarded_at_starttls = b""  # plaintext the client pipelined behind STARTTLS
        self.bytes_sent = 0

    def on_data(self, data: bytes) -> None:
        if len(self.received) < _RECEIVED_CAP:
            self.received += data[: _RECEIVED_CAP - len(self.received)]

    def send(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        self.write(data)

    async def session(self) -> None:
        mode = self.server.mode
        d = self.dialect
        if mode is HostileMode.CLOSE_AT_ONCE:
            return
        if mode is HostileMode.SILENT:
            while await self.read_line(timeout=self.lifetime) is not None:
                pass
            return
        if mode is HostileMode.DRIP:
            await self._drip()
            return
        if mode is HostileMode.ENDLESS_LINE:
            await self._endless()
            return
        if mode is HostileMode.GREETING_421:
            self.send(d.unavailable())
            return
        if mode is HostileMode.GREETING_554:
            self.send(d.no_service())
            if d.protocol is Protocol.SMTP:
                await self._refuse_until_quit()
            return
        self.send(self._greeting())
        await self._dialogue()

    def _greeting(self) -> bytes:
        mode = self.server.mode
        if mode is HostileMode.NASTY_BANNER:
            return self.dialect.greeting(NASTY_TEXT)
        if mode is HostileMode.BAD_CONTINUATION:
            host = HOSTNAME.encode()
            return b"220-" + host + b" hello\r\n250-this line has the wrong code\r\n220 " + host + b" ready\r\n"
        return self.dialect.greeting(HOSTNAME.encode() + b" hostile " + mode.value.encode() + b" ready")

    def _offers_starttls(self) -> bool:
        if self.tls:
            return False
        mode = self.server.mode
        if mode is HostileMode.STARTTLS_REFUSED:
            return True
        plain_modes = (HostileMode.PLAINTEXT_ON_TLS_PORT, HostileMode.TLS_ON_PLAIN_PORT)
        return self.server.tls_context is not None and mode not in plain_modes

    def _caps(self, tag: bytes) -> bytes:
        mode = self.server.mode
        names = self.dialect.base_caps(self._offers_starttls())
        if mode is HostileMode.IMAP_HUGE_LITERAL:
            names.append(b"X-LITERAL " + HUGE_LITERAL)
        elif mode is HostileMode.IMAP_NEGATIVE_LITERAL:
            names.append(b"X-LITERAL " + NEGATIVE_LITERAL)
        filler = self.server.huge_lines if mode is HostileMode.HUGE_REPLY else 0
        return self.dialect.caps(tag, names, filler)

    async def _dialogue(self) -> None:
        d = self.dialect
        mode = self.server.mode
        while True:
            line = await self.read_line()
            if line is None:
                return
            if mode is HostileMode.RESET_AFTER_GREETING:
                self.reset()
                return
            command = d.parse(line)
            if command.kind == "quit":
                self.send(d.bye(command.tag))
                return
            if command.kind == "caps":
                self.send(self._caps(command.tag))
            elif command.kind == "starttls" and self._offers_starttls():
                ctx = self.server.tls_context
                if mode is HostileMode.STARTTLS_REFUSED or ctx is None:
                    self.send(d.starttls_refused(command.tag))
                    continue
                go = d.starttls_go(command.tag)
                # One write: the extra reply reaches the client in the same segment as the go-ahead.
                self.send(go + d.injected() if mode is HostileMode.STARTTLS_INJECTION else go)
                self.discarded_at_starttls = await self.start_tls(ctx)
            else:
                self.send(d.unknown(command.tag))

    async def _refuse_until_quit(self) -> None:
        while True:
            line = await self.read_line()
            if line is None:
                return
            if self.dialect.parse(line).kind == "quit":
                self.send(b"221 2.0.0 Bye\r\n")
                return
            self.send(b"503 5.5.1 No service here, only QUIT\r\n")

    async def _drip(self) -> None:
        prefix, body = self.dialect.drip_stream()
        for byte in itertools.chain(prefix, itertools.cycle(body)):
            if self.closed or self.bytes_sent >= self.server.max_bytes:
                return
            self.send(bytes([byte]))
            if await self.pause(self.server.interval):
                return

    async def _endless(self) -> None:
        prefix, _ = self.dialect.drip_stream()
        self.send(prefix or b"220 ")
        chunk = b"A" * 16384
        while not self.closed and self.bytes_sent < self.server.max_bytes:
            self.send(chunk)
            await self.drain()
            await asyncio.sleep(0)  # let the client (maybe in this very loop) read


class HostileServer(Listener):
    """A listener whose every connection misbehaves as `mode` says.

    Modes that need TLS (STARTTLS_INJECTION, TLS_ON_PLAIN_PORT) need `tls_context`; with one, the other
    modes offer STARTTLS too. `interval` paces DRIP; `lifetime` ends any connection; `max_bytes` caps
    DRIP and ENDLESS_LINE.
    """

    def __init__(
        self,
        mode: HostileMode,
        protocol: Protocol = Protocol.SMTP,
        *,
        tls_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        interval: float = 1.0,
        lifetime: float = 30.0,
        idle_timeout: float = 10.0,
        huge_lines: int = 5000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if not mode.supports(protocol):
            raise ValueError(f"hostile mode {mode.value} does not apply to {protocol.value}")
        if mode.needs_tls and tls_context is None:
            raise ValueError(f"hostile mode {mode.value} needs a tls_context")
        self.mode = mode
        self.protocol = protocol
        self.tls_context = tls_context
        self.interval = interval
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self.huge_lines = huge_lines
        self.max_bytes = max_bytes
        self.history: list[HostileConnection] = []

        def make(listener: Listener) -> asyncio.Protocol:
            connection = HostileConnection(listener, self)
            if len(self.history) < _HISTORY_CAP:
                self.history.append(connection)
            return connection

        implicit = tls_context if mode is HostileMode.TLS_ON_PLAIN_PORT else None
        super().__init__(make, host=host, port=port, tls=implicit, tls_handshake_timeout=idle_timeout)
