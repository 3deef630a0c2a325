"""POP3 handshake (110; 995 implicit TLS): greeting, CAPA, STLS, CAPA again."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from functools import partial

from mailprobe.errors import LimitExceeded, ProtocolViolation, TransportError
from mailprobe.model import Capability, Pop3Facts, ProbeStatus, Protocol, Reply
from mailprobe.net.transport import Session
from mailprobe.probes.base import Draft, MailProbe, Stop
from mailprobe.protocols import pop3
from mailprobe.protocols.pop3 import ANNOTATIONS

# Sent on a separate plaintext session when CAPA lists USER: a user name that exists nowhere, never a password.
# Some servers (Courier) list USER before TLS and refuse it until TLS: only the reply tells.
PROBE_USER = "mailprobe"


class Pop3Probe(MailProbe):
    protocol = Protocol.POP3
    tls_keyword = "STLS"
    _user_check: asyncio.Future[Reply | None] | None = None

    async def greet(self, s: Session, d: Draft) -> None:
        reply = await s.read(partial(pop3.parse_status, max_line=self.limits.max_line), ANNOTATIONS["greeting"])
        d.banner = reply.text
        d.greeting_code = "+OK" if reply.ok else "-ERR"
        d.pop3 = Pop3Facts(apop_timestamp=pop3.apop_timestamp(reply) or "")
        if not reply.ok:
            d.status = ProbeStatus.SERVICE_UNAVAILABLE
            d.reason = f"server refused service: {reply.first_line}"
            raise Stop

    async def capabilities(self, s: Session, d: Draft, after_tls: bool) -> tuple[Capability, ...]:
        await s.send(b"CAPA\r\n", ANNOTATIONS["CAPA"])
        reply = await s.read(partial(pop3.parse_multiline, max_line=self.limits.max_line))
        facts = d.pop3 or Pop3Facts()
        if not reply.ok:
            refusal = Reply("-ERR", reply.first_line)
            if after_tls:
                d.pop3 = replace(facts, capa_refused_after_tls=refusal)
            else:
                d.pop3 = replace(facts, capa_refused=refusal)
            return ()
        caps = pop3.parse_capa(reply)
        expire = pop3.expire_policy(caps)
        named = {cap.keyword: " ".join(cap.params) for cap in caps}
        d.pop3 = replace(
            facts,
            expire=facts.expire if expire is None else expire,
            implementation=named.get("IMPLEMENTATION", facts.implementation),
            login_delay=named.get("LOGIN-DELAY", facts.login_delay),
        )
        return caps

    async def ask_starttls(self, s: Session, d: Draft) -> bool:
        await s.send(b"STLS\r\n", ANNOTATIONS["STLS"])
        reply = await s.read(partial(pop3.parse_status, max_line=self.limits.max_line))
        d.starttls_reply = reply.first_line
        return reply.ok

    def record_auth(self, d: Draft, caps: tuple[Capability, ...], after_tls: bool) -> None:
        mechs = pop3.sasl_mechanisms(caps)
        if after_tls:
            d.auth_after = mechs
        else:
            d.auth_before = mechs
            user = any(c.keyword == "USER" for c in caps)
            d.plaintext_login_before = user or bool({"PLAIN", "LOGIN"} & set(mechs))
            if user and self._user_check is None:
                self._user_check = asyncio.ensure_future(self._user_reply())

    async def finish(self, d: Draft) -> None:
        task, self._user_check = self._user_check, None
        if task is None:
            return
        reply = await task
        d.pop3 = replace(d.pop3 or Pop3Facts(), user_before_tls=reply)
        if reply is not None and not reply.positive and not {"PLAIN", "LOGIN"} & set(d.auth_before):
            d.plaintext_login_before = False  # USER is listed but refused in clear: no password goes out

    async def _user_reply(self) -> Reply | None:
        """`USER mailprobe` on a fresh plaintext session: is USER taken before TLS? None when it could not tell."""
        try:
            session = await self.open_session(self.target.address, self.target.port, self.limits)
        except TransportError:
            return None
        session.deadline = min(session.deadline, time.monotonic() + self.limits.read_timeout)
        try:
            greeting = await session.read(partial(pop3.parse_status, max_line=self.limits.max_line))
            if not greeting.ok:
                return None
            await session.send(f"USER {PROBE_USER}\r\n".encode("ascii"), ANNOTATIONS["USER"])
            reply = await session.read(partial(pop3.parse_status, max_line=self.limits.max_line))
            await session.send(b"QUIT\r\n", ANNOTATIONS["QUIT"])
            return Reply("+OK" if reply.ok else "-ERR", reply.first_line)
        except (TransportError, ProtocolViolation, LimitExceeded):
            return None
        finally:
            session.close()

    async def quit(self, s: Session) -> None:
        await s.send(b"QUIT\r\n", ANNOTATIONS["QUIT"])
