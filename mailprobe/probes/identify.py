"""Which service a port with no registered number offers (`handshake HOST:2525`): ask the server itself.

Connect and read: the first bytes name the protocol (protocols/sniff.py). A server that stays silent may be
waiting for a TLS ClientHello (implicit TLS): after TLS_AFTER seconds of silence a TLS session is opened
beside the plaintext one and its greeting read inside TLS. The first answer wins:

    SMTP -> smtp        POP3 -> pop3        IMAP -> imap           (greeting in plaintext)
    SMTP -> submissions POP3 -> pop3s       IMAP -> imaps          (greeting inside TLS)

Plaintext SMTP is probed as `smtp` (port 25's judging); `HOST:PORT/submission` says otherwise. Nothing else
is sent: the identifying sessions end after the greeting, and the handshake proper opens its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mailprobe.config import Limits
from mailprobe.errors import LimitExceeded, ProtocolViolation, TransportError
from mailprobe.model import Protocol, Service
from mailprobe.net.transport import Session, client_context
from mailprobe.probes.base import Opener
from mailprobe.protocols.sniff import Greeting, parse_greeting

TLS_AFTER = 1.0  # seconds without a byte before a TLS session is tried beside the plaintext one
_PLAIN = {Protocol.SMTP: Service.SMTP, Protocol.POP3: Service.POP3, Protocol.IMAP: Service.IMAP}
_IMPLICIT = {Protocol.SMTP: Service.SUBMISSIONS, Protocol.POP3: Service.POP3S, Protocol.IMAP: Service.IMAPS}
_NO_ANSWER = ("refused", "connect-timeout", "unreachable", "error")  # connect failures: nothing to ask


@dataclass(frozen=True, slots=True)
class Identified:
    """The service the port offers (None: it could not be told) and how that was decided, in words."""

    service: Service | None
    how: str
    final: bool = False  # the answer stands whatever the other attempt says (the server spoke, or refused)


async def identify(
    address: str, port: int, limits: Limits, opener: Opener, server_hostname: str | None = None
) -> Identified:
    """See the module docstring; never raises for what a server does."""
    plain: asyncio.Future[Identified] = asyncio.ensure_future(_plaintext(address, port, limits, opener))
    tls: asyncio.Future[Identified] | None = None
    try:
        done, _ = await asyncio.wait({plain}, timeout=TLS_AFTER)
        if plain in done and (plain.result().service is not None or plain.result().final):
            return plain.result()
        tls = asyncio.ensure_future(_implicit_tls(address, port, limits, opener, server_hostname))
        pending: set[asyncio.Future[Identified]] = {plain, tls}
        failures: list[Identified] = []
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for attempt in done:
                found = attempt.result()
                if found.service is not None or found.final:
                    return found
                failures.append(found)
        return Identified(None, "; ".join(f.how for f in failures))
    finally:
        started = [attempt for attempt in (plain, tls) if attempt is not None]
        for attempt in started:
            attempt.cancel()  # a no-op for the finished ones
        await asyncio.gather(*started, return_exceptions=True)


async def _greeting(session: Session) -> Greeting:
    return await session.read(parse_greeting, "greeting: which protocol?")


async def _plaintext(address: str, port: int, limits: Limits, opener: Opener) -> Identified:
    try:
        session = await opener(address, port, limits)
    except TransportError as exc:
        return Identified(None, f"{exc.reason}: nothing to tell the protocol from", final=exc.status in _NO_ANSWER)
    try:
        greeting = await _greeting(session)
    except TransportError as exc:
        return Identified(None, f"no greeting in plaintext ({exc.reason})")
    except (ProtocolViolation, LimitExceeded) as exc:
        return Identified(None, f"no greeting in plaintext ({exc})", final=True)
    finally:
        session.close()
    if greeting.protocol is None:
        return Identified(None, greeting.describe(), final=True)
    return Identified(_PLAIN[greeting.protocol], f"{greeting.describe()} (plaintext)", final=True)


async def _implicit_tls(
    address: str, port: int, limits: Limits, opener: Opener, server_hostname: str | None
) -> Identified:
    try:
        session = await opener(address, port, limits, tls_context=client_context(), server_hostname=server_hostname)
    except TransportError as exc:
        return Identified(None, f"no TLS either ({exc.reason})")
    try:
        greeting = await _greeting(session)
    except (TransportError, ProtocolViolation, LimitExceeded) as exc:
        reason = exc.reason if isinstance(exc, TransportError) else str(exc)
        return Identified(None, f"TLS, but no greeting inside it ({reason})", final=True)
    finally:
        session.close()
    if greeting.protocol is None:
        return Identified(None, f"TLS, and inside it {greeting.describe()}", final=True)
    return Identified(_IMPLICIT[greeting.protocol], f"TLS from the first byte, and {greeting.describe()}", final=True)
