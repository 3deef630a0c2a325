"""The one transport: a TCP (then TLS) session with deadlines, byte caps and a lossless transcript.

Probes drive sans-I/O parsers over a Session: `send()` bytes, `read(parse)` until the parser returns a
complete reply. Every failure leaves as TransportError(status, reason) with a ProbeStatus value saying where
it failed; parsers' ProtocolViolation / LimitExceeded pass through for the probe to classify.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import ssl
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from mailprobe.config import Limits
from mailprobe.errors import LimitExceeded, TransportError
from mailprobe.model import Direction, ProbeStatus, TranscriptEntry
from mailprobe.net import guard

if TYPE_CHECKING:
    from mailprobe.progress import Step

T = TypeVar("T")
Parser = Callable[[bytes], "tuple[T, int] | None"]

_PARSE_ALWAYS = 256  # bytes: a buffer this short is parsed on every arrival, line end or not
_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EACCES, errno.EPERM, errno.EADDRNOTAVAIL}


@dataclass(frozen=True, slots=True)
class TlsSession:
    """What the TLS layer told us, raw; protocols.tls turns it into TlsFacts."""

    version: str
    cipher: tuple[str, str, int] | None
    chain: tuple[bytes, ...]  # DER, leaf first, as served (unverified)


class _Receiver(asyncio.Protocol):
    """Buffers what the peer sends; pauses reading past the cap so memory stays bounded, and resumes once
    the reader has consumed the buffer back under it.

    `newline`: a line end arrived since the reader last looked (the reader clears it); `tail`: the bytes
    after the buffer's last line end (a line still arriving)."""

    def __init__(self, cap: int) -> None:
        self.buffer = bytearray()
        self.received = 0
        self.eof = False
        self.error: Exception | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self.transport: asyncio.Transport | None = None
        self.newline = False
        self.tail = 0
        self.paused = False
        self._cap = cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.received += len(data)
        end = data.rfind(b"\n")
        if end >= 0:
            self.newline = True
            self.tail = len(data) - end - 1
        else:
            self.tail += len(data)
        if len(self.buffer) > self._cap and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def consume(self, used: int) -> None:
        """Drop the first `used` bytes (a reply read, or bytes discarded at TLS); read on if under the cap."""
        del self.buffer[:used]
        self.tail = min(self.tail, len(self.buffer))
        if self.paused and len(self.buffer) <= self._cap and self.transport is not None:
            self.paused = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def switched(self, transport: asyncio.Transport) -> None:
        """The TLS transport replaces the plain one: it starts reading."""
        self.transport = transport
        self.paused = False

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()

    async def changed(self, timeout: float) -> bool:
        """True when bytes arrive or the connection ends within `timeout` seconds, else False. One future
        and one timer per wait (asyncio.wait_for would add a task and an Event's future)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _settle, waiter, False)
        try:
            arrived: bool = await waiter
        finally:
            timer.cancel()
            self._waiter = None
        return arrived

    def _wake(self) -> None:
        if self._waiter is not None:
            _settle(self._waiter, True)


def _settle(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


class Session:
    """One connection. Create with `await Session.open(...)`; always `close()` (or use `async with`)."""

    def __init__(self, limits: Limits, started: float) -> None:
        self.limits = limits
        self.started = started
        self.deadline = started + limits.session_timeout
        self.transcript: list[TranscriptEntry] = []
        self.round_trips = 0
        self.tls: TlsSession | None = None
        self.injected = 0  # bytes received before a TLS handshake, discarded
        self._awaiting = True  # the greeting answers the connection itself
        self._receiver: _Receiver | None = None
        self._transport: asyncio.Transport | None = None
        self.step: Step | None = None  # a run's status line: what this session waits for (mailprobe.progress)

    # -- lifecycle -------------------------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        address: str,
        port: int,
        limits: Limits,
        *,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        connect: Callable[[], Awaitable[socket.socket]] | None = None,
        step: Step | None = None,
    ) -> Session:
        """Connect (with `connect` when given: a connected socket, or a TransportError), then TLS if asked.
        `step`: where the session says what it waits for (a run's status line)."""
        guard.check(address)
        session = cls(limits, time.monotonic())
        session.step = step
        if step is not None:
            step.now("connecting")
        loop = asyncio.get_running_loop()
        receiver = _Receiver(limits.max_reply + limits.max_line)
        try:
            if connect is not None:
                sock = await connect()
                try:
                    transport, _ = await loop.create_connection(lambda: receiver, sock=sock)
                except BaseException:
                    sock.close()
                    raise
            else:
                transport, _ = await asyncio.wait_for(
                    loop.create_connection(lambda: receiver, address, port),
                    timeout=min(limits.connect_timeout, session.remaining()),
                )
        except ConnectionRefusedError as exc:
            raise TransportError(ProbeStatus.REFUSED.value, "connection refused (RST)") from exc
        except asyncio.TimeoutError as exc:
            raise TransportError(ProbeStatus.CONNECT_TIMEOUT.value, "no answer to the TCP handshake") from exc
        except OSError as exc:
            status = ProbeStatus.UNREACHABLE if exc.errno in _UNREACHABLE_ERRNOS else ProbeStatus.ERROR
            raise TransportError(status.value, f"connect failed: {exc.strerror or exc}") from exc
        assert isinstance(transport, asyncio.Transport)
        session._receiver, session._transport = receiver, transport
        session.round_trips += 1
        session.note(f"connected to {address} port {port}")
        if step is not None and tls_context is None:
            step.now("waiting for greeting")
        if tls_context is not None:
            try:
                await session.start_tls(tls_context, server_hostname)
            except BaseException:  # a failed (or cancelled) handshake must not leave the socket open
                session.close()
                raise
        return session

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    # -- time and transcript ---------------------------------------------------------------------------------------

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def _record(self, direction: Direction, data: bytes, note: str) -> None:
        self.transcript.append(TranscriptEntry(direction, data, round(self.elapsed_ms(), 1), note))

    def note(self, text: str) -> None:
        self._record(Direction.NOTE, b"", text)

    # -- I/O ---------------------------------------------------------------------------------------------------------

    def _live(self) -> tuple[_Receiver, asyncio.Transport]:
        if self._receiver is None or self._transport is None:
            raise TransportError(ProbeStatus.ERROR.value, "session is not open")
        return self._receiver, self._transport

    async def send(self, data: bytes, note: str = "") -> None:
        receiver, transport = self._live()
        if receiver.eof or transport.is_closing():
            raise TransportError(ProbeStatus.CLOSED.value, "server closed the connection")
        self._record(Direction.CLIENT, data, note)
        self._awaiting = True
        transport.write(data)
        if self.step is not None:
            from mailprobe.progress import command_word

            self.step.now(f"waiting for the reply to {command_word(data)}")

    async def read(self, parse: Callable[[bytes], tuple[T, int] | None], note: str = "") -> T:
        """Wait until `parse` finds a complete reply at the front of the buffer; consume and return it.

        Replies are lines: the buffer is parsed again only when a line end arrived, the line still arriving
        passed max_line, the connection ended, or the buffer is still short (a greeting's first bytes tell
        its protocol: protocols/sniff.py) or has doubled. Bytes dripped one at a time into a long reply cost
        a parse per line, not one per byte, and every cap is checked as before."""
        receiver, _ = self._live()
        parsed_at = -1  # buffer length at the last parse that found nothing (-1: parse now)
        parsed_tail = 0
        while True:
            if receiver.received > self.limits.max_session:
                raise LimitExceeded(f"server sent more than {self.limits.max_session} bytes in one session")
            size = len(receiver.buffer)
            due = (
                parsed_at < 0
                or receiver.newline
                or receiver.eof
                or size <= _PARSE_ALWAYS
                or size >= 2 * parsed_at
                or (receiver.tail > self.limits.max_line >= parsed_tail)
            )
            result = None
            if due:
                receiver.newline = False
                parsed_at, parsed_tail = size, receiver.tail
                result = parse(bytes(receiver.buffer))
            if result is not None:
                reply, used = result
                self._record(Direction.SERVER, bytes(receiver.buffer[:used]), note)
                receiver.consume(used)
                # A reply costs a round trip when it answers something new: the connection (greeting) or a
                # request sent since the last reply. Pipelined replies share their request's round trip.
                self.round_trips += self._awaiting
                self._awaiting = False
                return reply
            if len(receiver.buffer) > self.limits.max_reply:
                raise LimitExceeded(f"reply longer than {self.limits.max_reply} bytes")
            if receiver.eof:
                detail = f" ({receiver.error})" if receiver.error else ""
                if receiver.buffer:
                    self._record(Direction.SERVER, bytes(receiver.buffer), "incomplete reply before close")
                raise TransportError(ProbeStatus.CLOSED.value, f"server closed the connection{detail}")
            await self._wait(receiver)

    async def _wait(self, receiver: _Receiver) -> None:
        remaining = self.remaining()
        if remaining <= 0:
            raise TransportError(ProbeStatus.SESSION_TIMEOUT.value, "session deadline reached")
        timeout = min(self.limits.read_timeout, remaining)
        if not await receiver.changed(timeout):
            if timeout < self.limits.read_timeout:
                raise TransportError(ProbeStatus.SESSION_TIMEOUT.value, "session deadline reached")
            raise TransportError(ProbeStatus.IO_TIMEOUT.value, f"no reply within {timeout:g} s")

    # -- TLS ---------------------------------------------------------------------------------------------------------

    async def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> TlsSession:
        """Upgrade to TLS. Bytes already received are discarded (CVE-2011-0411 class) and counted."""
        receiver, transport = self._live()
        if receiver.buffer:
            self.injected += len(receiver.buffer)
            self._record(Direction.NOTE, bytes(receiver.buffer), "bytes sent before TLS: discarded, never trusted")
            receiver.buffer.clear()  # not consume(): the plain transport must not read on (loop.start_tls takes it)
            receiver.tail = 0
        if transport.is_closing():  # the server hung up right after agreeing (asyncio would wait for ever)
            raise TransportError(ProbeStatus.TLS_HANDSHAKE_ERROR.value, "TLS handshake failed: connection closed")
        if self.step is not None:
            self.step.now("in the TLS handshake")
        loop = asyncio.get_running_loop()
        timeout = max(0.1, min(self.limits.read_timeout, self.remaining()))
        # Our own timer, not asyncio's ssl_handshake_timeout (set later, as a backstop): when it fires, the
        # transport tells a server still holding the connection (too slow: a timeout) from one that reset it
        # as the handshake started (a failure; asyncio's own timer would then wait for ever on a closed one).
        tls = loop.start_tls(
            transport, receiver, context, server_hostname=server_hostname, ssl_handshake_timeout=timeout + 1.0
        )
        handshake = asyncio.ensure_future(tls)
        try:
            await asyncio.wait((handshake,), timeout=timeout)
            hung_up = transport.is_closing()
        finally:
            if not handshake.done():
                handshake.cancel()
                await asyncio.gather(handshake, return_exceptions=True)
        if handshake.cancelled():
            if hung_up:
                raise TransportError(ProbeStatus.TLS_HANDSHAKE_ERROR.value, "TLS handshake failed: connection closed")
            reason = f"no TLS handshake reply within {timeout:g} s"
            raise TransportError(ProbeStatus.TLS_HANDSHAKE_TIMEOUT.value, reason)
        try:
            new_transport = handshake.result()
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise TransportError(ProbeStatus.TLS_HANDSHAKE_ERROR.value, f"TLS handshake failed: {reason}") from exc
        if new_transport is None:
            raise TransportError(ProbeStatus.TLS_HANDSHAKE_ERROR.value, "TLS handshake failed: connection closed")
        assert isinstance(new_transport, asyncio.Transport)
        self._transport = new_transport
        receiver.switched(new_transport)
        ssl_object = new_transport.get_extra_info("ssl_object")
        self.tls = _describe(ssl_object)
        self.round_trips += 1 if self.tls.version == "TLSv1.3" else 2
        cipher = self.tls.cipher[0] if self.tls.cipher else ""
        self._record(Direction.TLS, b"", f"TLS established: {self.tls.version} {cipher}")
        if self.step is not None and all(entry.direction is not Direction.CLIENT for entry in self.transcript):
            self.step.now("waiting for greeting")  # implicit TLS: the greeting comes now
        return self.tls


def _describe(ssl_object: ssl.SSLObject | None) -> TlsSession:
    if ssl_object is None:
        return TlsSession("unknown", None, ())
    chain: tuple[bytes, ...] = ()
    inner = getattr(ssl_object, "_sslobj", None)
    get_chain = getattr(inner, "get_unverified_chain", None) or getattr(ssl_object, "get_unverified_chain", None)
    if get_chain is not None:  # private before Python 3.13; the whole chain as served
        certs = get_chain() or []
        chain = tuple(cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in certs)  # type: ignore[attr-defined]
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        chain = (leaf,) if leaf else ()
    return TlsSession(ssl_object.version() or "unknown", ssl_object.cipher(), chain)


def client_context(*, minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A context that accepts whatever is served: trust is decided afterwards, from the recorded chain.

    One per (minimum, maximum) for the whole process: making a context costs about 1 ms of OpenSSL set-up
    and every session needs one or more. Sharing is safe: nothing changes a context once made, and a client
    resumes a TLS session only when handed one (never here), so every handshake is a full one, chain and all.
    """
    return _shared_context(minimum, maximum)


def offers_version(version: ssl.TLSVersion) -> bool:
    """Can this process's OpenSSL make a ClientHello for `version` alone? Its build (no-tls1) or a system
    crypto policy may forbid what we ask for; a test of that version could then tell nothing about a server."""
    return _offers(version, version)


@functools.lru_cache(maxsize=8)
def _offers(minimum: ssl.TLSVersion, maximum: ssl.TLSVersion) -> bool:
    try:
        tls = _shared_context(minimum, maximum).wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
        tls.do_handshake()  # in memory: writes the ClientHello, or fails before a byte is written
    except ssl.SSLWantReadError:
        return True  # the ClientHello is written; the handshake would wait for the server
    except (ssl.SSLError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=8)
def _shared_context(minimum: ssl.TLSVersion | None, maximum: ssl.TLSVersion | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if minimum is not None or maximum is not None:
        # Legacy probes: let OpenSSL offer old versions at all. Python deprecates naming them; we must.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            if minimum is not None:
                context.minimum_version = minimum
            if maximum is not None:
                context.maximum_version = maximum
    return context
