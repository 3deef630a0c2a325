"""The demo SMTP servers: aiosmtpd's SMTP protocol on a loopback Listener.

Plaintext with STARTTLS (the port-25 and port-587 roles) or implicit TLS (the port-465 role). AUTH is offered
only once TLS is up and every credential is refused; DATA is always refused with 554, so the demo server can
never take a message. Relaying is refused (554 5.7.1) unless the server is built as an open relay, so relay
checks have both answers to look at.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailprobe.demo.lineserver import Listener, wait_event, wait_quietly

DEMO_HOSTNAME = "mx.demo.mailprobe.test"
DEMO_DOMAIN = "demo.mailprobe.test"
IDENT = "ESMTP mailprobe demo"
DATA_REFUSED = "554 5.7.1 This demo server accepts no mail"
RELAY_DENIED = "554 5.7.1 <{address}>: Relay access denied"


class DemoHandler:
    """aiosmtpd hooks: who may be a recipient, and two extra EHLO keywords."""

    def __init__(self, local_domains: Iterable[str], open_relay: bool) -> None:
        self.local_domains = frozenset(d.lower().rstrip(".") for d in local_domains)
        self.open_relay = open_relay

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # aiosmtpd ends with "250 HELP"; keep it last.
        return [*responses[:-1], "250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if not self.open_relay and domain not in self.local_domains:
            return RELAY_DENIED.format(address=address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_exception(self, error: Exception) -> str:
        # A client that gives up on a TLS handshake (mailprobe's legacy-version probes do) is routine here;
        # without this hook aiosmtpd logs a traceback for each one.
        return "421 4.3.0 connection problem, closing"


def _refuse_every_credential(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    return AuthResult(success=False, handled=False)


class DemoSMTP(SMTP):
    """aiosmtpd's protocol, registered with its Listener so stop() can end it, and never taking DATA."""

    def __init__(
        self,
        listener: Listener,
        handler: DemoHandler,
        *,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        require_starttls: bool,
        auth_require_tls: bool,
        timeout: float,
    ) -> None:
        super().__init__(
            handler,
            loop=asyncio.get_running_loop(),
            hostname=hostname,
            ident=IDENT,
            tls_context=tls_context,
            require_starttls=require_starttls,
            auth_require_tls=auth_require_tls,
            authenticator=_refuse_every_credential,
            timeout=timeout,
            data_size_limit=10 * 1024 * 1024,
        )
        self._listener = listener
        self._lost_event = asyncio.Event()
        self._registered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = not self._registered
        super().connection_made(transport)
        task = self._handler_coroutine
        if first and task is not None:  # a second call comes after STARTTLS, on the TLS transport
            self._registered = True
            self._listener.add(self)
            task.add_done_callback(lambda _task: self._maybe_retire())

    def connection_lost(self, error: Exception | None) -> None:
        # After a failed STARTTLS handshake aiosmtpd has already torn the session down and a second
        # connection_lost would trip its assertion: only our bookkeeping is left to do then.
        if self.session is not None:
            super().connection_lost(error)
        elif self._handler_coroutine is not None:
            self._handler_coroutine.cancel()
        self._lost_event.set()
        self._maybe_retire()

    def _maybe_retire(self) -> None:
        task = self._handler_coroutine
        if self._lost_event.is_set() and task is not None and task.done():
            self._listener.discard(self)

    def abort(self) -> None:
        transport = self._original_transport or self.transport
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()

    async def wait_closed(self) -> None:
        await wait_quietly(self._handler_coroutine)
        await wait_event(self._lost_event)

    async def smtp_DATA(self, arg: str | None) -> None:
        if await self.check_helo_needed():
            return
        await self.push(DATA_REFUSED)


class SmtpServer(Listener):
    """A demo SMTP listener.

    With `implicit_tls` the connection is TLS from the first byte (submissions, 465) and AUTH is offered at
    once; otherwise STARTTLS is offered when `tls_context` is given and AUTH only after it.
    """

    def __init__(
        self,
        tls_context: ssl.SSLContext | None,
        *,
        implicit_tls: bool = False,
        hostname: str = DEMO_HOSTNAME,
        local_domains: Iterable[str] = (DEMO_DOMAIN,),
        open_relay: bool = False,
        require_starttls: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 30.0,
    ) -> None:
        if implicit_tls and tls_context is None:
            raise ValueError("implicit TLS needs a tls_context")
        self.handler = DemoHandler(local_domains, open_relay)
        self.hostname = hostname
        self.implicit_tls = implicit_tls
        starttls_context = None if implicit_tls else tls_context

        def make(listener: Listener) -> asyncio.Protocol:
            return DemoSMTP(
                listener,
                self.handler,
                hostname=hostname,
                tls_context=starttls_context,
                require_starttls=require_starttls and starttls_context is not None,
                # aiosmtpd only knows TLS it started itself; on an implicit-TLS port the session is TLS.
                auth_require_tls=not implicit_tls,
                timeout=timeout,
            )

        super().__init__(make, host=host, port=port, tls=tls_context if implicit_tls else None)
