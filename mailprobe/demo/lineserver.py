"""Plumbing shared by the demo servers: a loopback listener that can end every connection it accepted,
implicit TLS done by the listener, and a line-oriented connection driven by one coroutine.

asyncio's Server.close() leaves accepted connections open (before 3.13), and a TLS handshake still in
progress has no protocol yet; both would leak sockets (ResourceWarning) when a test's loop ends. So every
connection registers with its Listener, and implicit TLS is an explicit loop.start_tls() we can abort.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Protocol, TypeVar

# Short waits that bound stop(): a connection that does not report its end within this is left behind.
_STOP_GRACE = 1.0


class Tracked(Protocol):
    """A live connection a Listener can end."""

    def abort(self) -> None: ...

    async def wait_closed(self) -> None: ...


ProtocolFactory = Callable[["Listener"], asyncio.Protocol]
_ListenerT = TypeVar("_ListenerT", bound="Listener")


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"demo servers bind loopback only, not {host!r}")


async def wait_quietly(awaitable: asyncio.Task[None] | None) -> None:
    """Wait for a task to finish without raising what it raised (or its cancellation)."""
    if awaitable is not None and not awaitable.done():
        await asyncio.wait([awaitable], timeout=_STOP_GRACE)


async def wait_event(event: asyncio.Event) -> None:
    """Wait (briefly) for an event that marks a connection's end."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), _STOP_GRACE)


class Listener:
    """A TCP server on a loopback address; with `tls`, every connection is TLS from its first byte."""

    def __init__(
        self,
        factory: ProtocolFactory,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        _check_loopback(host)
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_handshake_timeout = tls_handshake_timeout
        self._factory = factory
        self._server: asyncio.Server | None = None
        self._connections: set[Tracked] = set()

    async def start(self) -> int:
        """Bind and listen; return the port (ephemeral when constructed with port=0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening, abort every live connection and wait (briefly) until each has ended."""
        if self._server is None:
            return
        self._server.close()
        live = list(self._connections)
        for connection in live:
            connection.abort()
        await asyncio.gather(*(c.wait_closed() for c in live))
        await self._server.wait_closed()
        self._server = None
        self._connections.clear()
        await asyncio.sleep(0)  # let the aborted transports run their connection_lost callbacks

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def add(self, connection: Tracked) -> None:
        self._connections.add(connection)

    def discard(self, connection: Tracked) -> None:
        self._connections.discard(connection)

    def _accept(self) -> asyncio.Protocol:
        inner = self._factory(self)
        if self.tls is None:
            return inner
        return _TlsAcceptor(self, inner, self.tls, self.tls_handshake_timeout)

    async def __aenter__(self: _ListenerT) -> _ListenerT:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _TlsAcceptor(asyncio.Protocol):
    """Holds a new connection while its TLS handshake runs, then hands the TLS transport to `inner`."""

    def __init__(self, listener: Listener, inner: asyncio.Protocol, ctx: ssl.SSLContext, timeout: float):
        self._listener = listener
        self._inner = inner
        self._ctx = ctx
        self._timeout = timeout
        self._raw: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._raw = transport
        self._listener.add(self)
        self._task = asyncio.get_running_loop().create_task(self._handshake(transport))

    async def _handshake(self, raw: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                raw,
                self._inner,
                self._ctx,
                server_side=True,
                ssl_handshake_timeout=self._timeout,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError):
            raw.close()  # a failed handshake is the client's business; nothing to serve
            return
        finally:
            self._listener.discard(self)
        if tls is None:  # pragma: no cover - only when the loop is closing
            raw.close()
            return
        self._inner.connection_made(tls)

    def connection_lost(self, exc: Exception | None) -> None:
        # The client left before start_tls took the transport over.
        if self._task is not None:
            self._task.cancel()

    def abort(self) -> None:
        if self._raw is not None:
            self._raw.abort()
        if self._task is not None:
            self._task.cancel()

    async def wait_closed(self) -> None:
        await wait_quietly(self._task)


class LineTooLong(Exception):
    """The client sent more than max_line bytes without a line ending."""


class LineConnection(asyncio.Protocol):
    """One client, one coroutine: subclasses implement session() with read_line(), write() and start_tls().

    The session ends when session() returns, the client goes away, a read waits longer than idle_timeout
    (read_line() returns None) or the whole connection outlives `lifetime`.
    """

    def __init__(
        self,
        listener: Listener,
        *,
        idle_timeout: float = 30.0,
        lifetime: float = 300.0,
        max_line: int = 8192,
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        self.listener = listener
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.max_line = max_line
        self.tls_handshake_timeout = tls_handshake_timeout
        self.transport: asyncio.Transport | None = None
        self.tls = False
        self._buffer = bytearray()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._lost = asyncio.Event()
        self._eof = False
        self._task: asyncio.Task[None] | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.tls = transport.get_extra_info("ssl_object") is not None
        self.listener.add(self)
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(lambda _task: self._maybe_retire())

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self.on_data(data)
        self._readable.set()

    def eof_received(self) -> bool | None:
        self._eof = True
        self._readable.set()
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost.set()
        self._readable.set()
        self._writable.set()
        self._maybe_retire()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- Tracked --------------------------------------------------------------------------------

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        if self._task is not None:
            self._task.cancel()

    def reset(self) -> None:
        """Drop the connection at once with an RST (not a FIN); the session ends at its next read."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Linger on, timeout 0: close() discards unsent data and sends RST.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    async def wait_closed(self) -> None:
        await wait_quietly(self._task)
        if self.transport is not None:
            await wait_event(self._lost)

    def _maybe_retire(self) -> None:
        if self._lost.is_set() and self._task is not None and self._task.done():
            self.listener.discard(self)

    # --- for sessions -----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._lost.is_set() or self.transport is None or self.transport.is_closing()

    def on_data(self, data: bytes) -> None:
        """A hook for subclasses that record what the client sent."""

    async def session(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        try:
            await asyncio.wait_for(self.session(), self.lifetime)
        except (asyncio.TimeoutError, OSError, ssl.SSLError, LineTooLong):
            pass  # the client's problem (or our lifetime): just hang up
        finally:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

    async def read_line(self, timeout: float | None = None) -> bytes | None:
        """The next line without its line ending; None when the client closed or stayed quiet too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.idle_timeout if timeout is None else timeout)
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line.rstrip(b"\r\n")
            if len(self._buffer) > self.max_line:
                raise LineTooLong
            if self._eof or self.closed:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._readable.clear()
            try:
                await asyncio.wait_for(self._readable.wait(), remaining)
            except asyncio.TimeoutError:
                return None

    def write(self, data: bytes) -> None:
        if not self.closed:
            assert self.transport is not None
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the transport's buffer has room (or the connection is gone)."""
        await self._writable.wait()

    async def pause(self, seconds: float) -> bool:
        """Sleep, waking early if the client goes away; True when the connection has ended."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._lost.wait(), seconds)
        return self.closed

    async def start_tls(self, ctx: ssl.SSLContext) -> bytes:
        """Switch this connection to TLS (server side) and return the plaintext it threw away.

        Raises OSError/SSLError if the handshake fails.
        """
        assert self.transport is not None
        # Plaintext the client pipelined behind its STARTTLS must not be read as if it came over TLS
        # (RFC 3207 section 4.2; the CVE-2011-0411 class).
        discarded = bytes(self._buffer)
        self._buffer.clear()
        loop = asyncio.get_running_loop()
        tls = await loop.start_tls(
            self.transport, self, ctx, server_side=True, ssl_handshake_timeout=self.tls_handshake_timeout
        )
        if tls is None:  # pragma: no cover - only when the loop is closing
            raise ConnectionAbortedError("TLS upgrade interrupted")
        self.transport = tls
        self.tls = True
        return discarded
