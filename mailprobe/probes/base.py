"""The handshake runner shared by the SMTP, POP3 and IMAP probes.

A probe says how to greet, list capabilities and ask for TLS; the runner drives the common shape
(greeting → capabilities → STARTTLS → TLS → capabilities again, or implicit TLS first), keeps the
deadlines and caps through the Session, and turns every expected failure into a result status.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
import typing
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from enum import Enum
from typing import ClassVar

from mailprobe.config import Config, Limits
from mailprobe.errors import LimitExceeded, ProtocolViolation, TransportError, UnsafeTargetError
from mailprobe.model import (
    Capability,
    HandshakeResult,
    ImapFacts,
    Pop3Facts,
    ProbeStatus,
    Protocol,
    SmtpFacts,
    StartTlsOutcome,
    Target,
    TlsFacts,
    TlsProblem,
)
from mailprobe.net.transport import Session, client_context, offers_version


@dataclass
class Draft:
    """The mutable notebook a probe fills during a session; frozen into a HandshakeResult at the end."""

    banner: str = ""
    greeting_code: str = ""
    before: tuple[Capability, ...] = ()
    after: tuple[Capability, ...] = ()
    starttls: StartTlsOutcome = StartTlsOutcome.NOT_ATTEMPTED
    starttls_reply: str = ""
    auth_before: tuple[str, ...] = ()
    auth_after: tuple[str, ...] = ()
    plaintext_login_before: bool = False
    smtp: SmtpFacts | None = None  # each probe fills its own protocol's facts
    pop3: Pop3Facts | None = None
    imap: ImapFacts | None = None
    tls_problem: TlsProblem | None = None
    status: ProbeStatus = ProbeStatus.SUCCESS
    reason: str = "handshake completed"
    post_tls_status: ProbeStatus | None = None  # with post-tls-error: how the encrypted dialogue ended


_DIALOGUE_FAILURES = (ProbeStatus.CLOSED, ProbeStatus.IO_TIMEOUT)
_TLS_FAILURES = (ProbeStatus.TLS_HANDSHAKE_ERROR, ProbeStatus.TLS_HANDSHAKE_TIMEOUT)
_LEGACY = {"TLSv1.0": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


class _Legacy(Enum):
    """What one legacy-version test learnt."""

    ACCEPTED = "accepted"  # its handshake succeeded
    REFUSED = "refused"  # the server refused it: an alert, a reset, a close during the handshake
    NO_CONCLUSION = "no-conclusion"  # it did not get that far: a timeout, a connect or dialogue that failed first
    NOT_OFFERED = "not-offered"  # this machine's OpenSSL cannot offer the version: not tried


class Opener(typing.Protocol):
    """How a probe gets a session: Session.open, or a scripted stand-in in tests."""

    def __call__(
        self,
        address: str,
        port: int,
        limits: Limits,
        *,
        tls_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Awaitable[Session]: ...


class Stop(Exception):
    """A probe ends the dialogue early on purpose (e.g. 421 greeting); status and reason are set in the draft."""


class MailProbe:
    """Base of the per-protocol probes. Subclasses fill in the dialogue steps."""

    protocol: ClassVar[Protocol]
    tls_keyword: ClassVar[str]  # capability that offers STARTTLS/STLS

    def __init__(self, target: Target, cfg: Config, opener: Opener | None = None) -> None:
        self.target = target
        self.cfg = cfg
        self.limits = cfg.limits
        # Injected I/O: tests replay recorded dialogues through a scripted opener; the default connects.
        self.open_session: Opener = opener or Session.open
        self._legacy: asyncio.Future[list[_Legacy]] | None = None
        self._deadline: float | None = None  # the main session's (time.monotonic()); side sessions end by it

    # -- steps a protocol implements ---------------------------------------------------------------------------------

    async def greet(self, s: Session, d: Draft) -> None:
        raise NotImplementedError

    async def capabilities(self, s: Session, d: Draft, after_tls: bool) -> tuple[Capability, ...]:
        raise NotImplementedError

    async def ask_starttls(self, s: Session, d: Draft) -> bool:
        """Send the STARTTLS command; True when the server agreed."""
        raise NotImplementedError

    async def before_tls(self, s: Session, d: Draft) -> None:
        """Checks that must run in plaintext (e.g. is TLS required before MAIL)."""

    async def after_capabilities(self, s: Session, d: Draft) -> None:
        """Checks on the final state of the session (VRFY, relay test)."""

    async def finish(self, d: Draft) -> None:
        """After the session closed: collect what side sessions learnt (the main dialogue's state is final)."""

    async def quit(self, s: Session) -> None:
        raise NotImplementedError

    def record_auth(self, d: Draft, caps: tuple[Capability, ...], after_tls: bool) -> None:
        raise NotImplementedError

    # -- the shared shape ------------------------------------------------------------------------------------------

    @property
    def server_name(self) -> str | None:
        """SNI and the name the certificate is judged against: --servername, else the host name, never an
        address literal."""
        if self.cfg.servername:
            return self.cfg.servername
        try:
            ipaddress.ip_address(self.target.host)
        except ValueError:
            return self.target.host
        return None

    async def run(self) -> HandshakeResult:
        started = time.monotonic()
        d = Draft()
        session: Session | None = None
        try:
            implicit = self.target.service.implicit_tls
            session = await self.open_session(
                self.target.address,
                self.target.port,
                self.limits,
                tls_context=client_context() if implicit else None,
                server_hostname=self.server_name,
            )
            self._deadline = session.deadline
            d.starttls = StartTlsOutcome.NOT_APPLICABLE if implicit else StartTlsOutcome.NOT_ATTEMPTED
            if implicit:
                self._start_legacy()
            await self.greet(session, d)
            caps = await self.capabilities(session, d, after_tls=implicit)
            self.record_auth(d, caps, after_tls=implicit)
            if implicit:
                d.after = caps
            else:
                d.before = caps
                await self.before_tls(session, d)
                await self._upgrade(session, d)
            await self.after_capabilities(session, d)
            await self.quit(session)
        except Stop:
            pass
        except UnsafeTargetError as exc:  # the guard refused the address before anything was sent
            d.status, d.reason = ProbeStatus.BLOCKED, f"refused by safety guard: {exc}"
        except TransportError as exc:
            d.status, d.reason = ProbeStatus(exc.status), exc.reason
            if session is not None and session.tls is not None and d.status in _DIALOGUE_FAILURES:
                # Kept apart from failures before TLS: the encrypted dialogue is what broke.
                d.post_tls_status = d.status
                d.status, d.reason = ProbeStatus.POST_TLS_ERROR, f"after TLS: {d.status.value}: {d.reason}"
            if d.status is ProbeStatus.TLS_HANDSHAKE_ERROR and self.target.service.implicit_tls:
                hint = await self._plaintext_hint()
                if hint:
                    d.reason += hint
                    d.tls_problem = TlsProblem.PLAINTEXT_ON_TLS_PORT
            if d.status is ProbeStatus.IO_TIMEOUT and not d.greeting_code and not self.target.service.implicit_tls:
                hint = await self._tls_hint()
                if hint:
                    d.reason += hint
                    d.tls_problem = TlsProblem.TLS_ON_PLAIN_PORT
        except ProtocolViolation as exc:
            d.status, d.reason = ProbeStatus.PROTOCOL_ERROR, str(exc)
        except LimitExceeded as exc:
            d.status, d.reason = ProbeStatus.LIMIT_EXCEEDED, str(exc)
        finally:
            if session is not None:
                session.close()
        tls = await self._with_legacy(self._tls(session), keep=d.status is ProbeStatus.SUCCESS)
        await self.finish(d)
        return HandshakeResult(
            target=self.target,
            status=d.status,
            reason=d.reason,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
            banner=d.banner,
            greeting_code=d.greeting_code,
            capabilities_before=d.before,
            capabilities_after=d.after,
            starttls=d.starttls,
            starttls_reply=d.starttls_reply,
            tls=tls,
            tls_error=d.reason if d.status in _TLS_FAILURES else "",
            auth_before_tls=d.auth_before,
            auth_after_tls=d.auth_after,
            plaintext_login_before_tls=d.plaintext_login_before,
            injected_bytes=session.injected if session else 0,
            smtp=d.smtp,
            pop3=d.pop3,
            imap=d.imap,
            tls_problem=d.tls_problem,
            round_trips=session.round_trips if session else 0,
            transcript=tuple(session.transcript) if session and self.cfg.transcript else (),
            post_tls_status=d.post_tls_status,
        )

    async def _upgrade(self, s: Session, d: Draft) -> None:
        if not any(cap.keyword == self.tls_keyword for cap in d.before):
            d.starttls = StartTlsOutcome.NOT_OFFERED
            return
        self._start_legacy()  # separate sessions, alongside this one: they cost no wall time of their own
        if not await self.ask_starttls(s, d):
            d.starttls = StartTlsOutcome.REFUSED
            return
        try:
            await s.start_tls(client_context(), self.server_name)
        except TransportError:
            d.starttls = StartTlsOutcome.FAILED
            raise
        d.starttls = StartTlsOutcome.OK
        # Everything learned before TLS is discarded: ask again over the encrypted channel.
        d.after = await self.capabilities(s, d, after_tls=True)
        self.record_auth(d, d.after, after_tls=True)

    def _tls(self, session: Session | None) -> TlsFacts | None:
        if session is None or session.tls is None:
            return None
        # Here, not at the top: cryptography and pyOpenSSL take ~80 ms to import, which the engine does in a
        # thread while the first sessions wait for the network (engine.import_meanwhile).
        from mailprobe.protocols import tls as tls_facts

        raw = session.tls
        return tls_facts.tls_facts(
            raw.version, raw.cipher, raw.chain, self.server_name or self.target.host, self.cfg.ca_file
        )

    # -- separate short sessions -------------------------------------------------------------------------------------

    async def _reach_tls(self, context: ssl.SSLContext, deadline: float, opened: list[Session]) -> None:
        """A fresh session up to an established TLS layer with `context` (for legacy-version tests), ended by
        `deadline` (time.monotonic()), its connect included.

        Sessions go into `opened` as soon as they exist, so the caller closes them whatever happens.
        """
        implicit = self.target.service.implicit_tls
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError(ProbeStatus.SESSION_TIMEOUT.value, "session deadline reached")
        # The connect and an implicit TLS handshake wait no longer than what is left either.
        limits = replace(
            self.limits,
            connect_timeout=min(self.limits.connect_timeout, left),
            read_timeout=min(self.limits.read_timeout, left),
            session_timeout=min(self.limits.session_timeout, left),
        )
        session = await self.open_session(
            self.target.address,
            self.target.port,
            limits,
            tls_context=context if implicit else None,
            server_hostname=self.server_name,
        )
        opened.append(session)
        session.deadline = min(session.deadline, deadline, time.monotonic() + self.limits.read_timeout)
        if not implicit:
            d = Draft()
            await self.greet(session, d)
            await self.capabilities(session, d, after_tls=False)
            if not await self.ask_starttls(session, d):
                raise TransportError(ProbeStatus.PROTOCOL_ERROR.value, "STARTTLS refused")
            await session.start_tls(context, self.server_name)

    async def _accepts(self, version: ssl.TLSVersion) -> _Legacy:
        """A handshake at `version` alone, in a session of its own; what it learnt (see _Legacy)."""
        if not offers_version(version):
            return _Legacy.NOT_OFFERED  # a refusal here would be this machine's, not the server's
        context = client_context(minimum=version, maximum=version)
        opened: list[Session] = []
        # Side sessions run beside the main one and end by its deadline, connect included: a server that
        # drip-feeds them cannot hold the handshake past the session timeout.
        deadline = self._deadline if self._deadline is not None else time.monotonic() + self.limits.session_timeout
        try:
            await asyncio.wait_for(self._reach_tls(context, deadline, opened), max(0.0, deadline - time.monotonic()))
        except TransportError as exc:
            return _Legacy.REFUSED if exc.status == ProbeStatus.TLS_HANDSHAKE_ERROR.value else _Legacy.NO_CONCLUSION
        except (ProtocolViolation, LimitExceeded, Stop, asyncio.TimeoutError):
            return _Legacy.NO_CONCLUSION
        finally:
            for session in opened:
                session.close()
        return _Legacy.ACCEPTED

    def _start_legacy(self) -> None:
        if self.cfg.check_legacy_tls and self._legacy is None:
            self._legacy = asyncio.ensure_future(
                asyncio.gather(*(self._accepts(version) for version in _LEGACY.values()))
            )

    async def _with_legacy(self, tls: TlsFacts | None, keep: bool) -> TlsFacts | None:
        """Collect the legacy-version probes started during the session; drop them if TLS never worked."""
        task, self._legacy = self._legacy, None
        if task is None:
            return tls
        if tls is None or not keep:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return tls
        outcomes = list(zip(_LEGACY, await task, strict=True))
        return replace(
            tls,
            legacy_versions=tuple(name for name, seen in outcomes if seen is _Legacy.ACCEPTED),
            legacy_unknown=tuple(name for name, seen in outcomes if seen is _Legacy.NO_CONCLUSION),
            legacy_not_offered=tuple(name for name, seen in outcomes if seen is _Legacy.NOT_OFFERED),
        )

    async def _plaintext_hint(self) -> str:
        """After a failed implicit-TLS handshake: does the port speak plaintext instead?"""
        try:
            session = await self.open_session(self.target.address, self.target.port, self.limits)
        except TransportError:
            return ""
        session.deadline = time.monotonic() + min(2.0, self.limits.read_timeout)
        try:
            d = Draft()
            await self.greet(session, d)
            return f"; the port speaks plaintext instead (greeting {d.greeting_code} {d.banner[:60]!r})"
        except (TransportError, ProtocolViolation, LimitExceeded, Stop):
            return ""
        finally:
            session.close()

    async def _tls_hint(self) -> str:
        """After a silent plaintext port: is it waiting for a TLS ClientHello (implicit TLS)?"""
        try:
            session = await self.open_session(
                self.target.address,
                self.target.port,
                # A TLS server answers a ClientHello within a round trip: a short wait is enough here.
                replace(self.limits, read_timeout=min(1.0, self.limits.read_timeout)),
                tls_context=client_context(),
                server_hostname=self.server_name,
            )
        except TransportError:
            return ""
        session.close()
        return "; the port speaks TLS from the start (implicit TLS), not plaintext"
