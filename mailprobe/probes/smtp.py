"""SMTP handshake (25, 587; 465 implicit TLS): greeting, EHLO, STARTTLS, EHLO again, checks that send no mail.

Never DATA or BDAT, never AUTH with credentials. The relay test runs only when the user opts in.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from functools import partial

from mailprobe.errors import ProtocolViolation, TransportError
from mailprobe.model import Capability, ProbeStatus, Protocol, Reply, Service, SmtpFacts
from mailprobe.net.transport import Session
from mailprobe.probes.base import Draft, MailProbe, Stop
from mailprobe.protocols import smtp
from mailprobe.protocols.smtp import ANNOTATIONS, SmtpReply


class SmtpProbe(MailProbe):
    protocol = Protocol.SMTP
    tls_keyword = "STARTTLS"

    async def _command(self, s: Session, line: str, key: str) -> SmtpReply:
        await s.send(line.encode("ascii") + b"\r\n", ANNOTATIONS.get(key, ""))
        return await self._reply(s)

    async def _reply(self, s: Session, note: str = "") -> SmtpReply:
        parse = partial(smtp.parse_reply, max_line=self.limits.max_line)
        return await s.read(parse, note)

    async def greet(self, s: Session, d: Draft) -> None:
        reply = await self._reply(s, ANNOTATIONS["greeting"])
        d.banner = reply.text
        d.greeting_code = str(reply.code)
        masked = smtp.is_masked(reply)
        d.smtp = SmtpFacts(greeting_host="" if masked else smtp.greeting_host(reply), greeting_masked=masked)
        if reply.code != 220:
            d.status = ProbeStatus.SERVICE_UNAVAILABLE
            d.reason = f"server refused service: {reply.first_line}"
            # Best effort: a 421 usually comes with the close (RFC 5321 3.8), and a QUIT that finds the
            # connection gone must not turn the refusal into `closed`.
            with contextlib.suppress(TransportError):
                await self.quit(s)
            raise Stop

    async def capabilities(self, s: Session, d: Draft, after_tls: bool) -> tuple[Capability, ...]:
        facts = d.smtp or SmtpFacts()
        reply = await self._command(s, f"EHLO {self.cfg.ehlo_name}", "EHLO")
        if reply.code == 250:
            caps = smtp.parse_ehlo(reply)
            size = smtp.size_limit(caps)
            d.smtp = replace(
                facts,
                size_limit=facts.size_limit if size is None else size,
                starttls_masked=facts.starttls_masked or smtp.has(caps, smtp.MASKED_STARTTLS),
            )
            return caps
        refusal = _fact(reply)
        facts = replace(facts, ehlo_refused_after_tls=refusal) if after_tls else replace(facts, ehlo_refused=refusal)
        helo = await self._command(s, f"HELO {self.cfg.ehlo_name}", "HELO")
        if helo.code != 250:
            raise ProtocolViolation(f"EHLO and HELO both refused: {reply.first_line} / {helo.first_line}")
        d.smtp = replace(facts, esmtp=False)
        return ()

    async def ask_starttls(self, s: Session, d: Draft) -> bool:
        reply = await self._command(s, "STARTTLS", "STARTTLS")
        d.starttls_reply = reply.first_line
        return reply.code == 220

    def record_auth(self, d: Draft, caps: tuple[Capability, ...], after_tls: bool) -> None:
        mechs = smtp.auth_mechanisms(caps)
        if after_tls:
            d.auth_after = mechs
        else:
            d.auth_before = mechs
            d.plaintext_login_before = bool({"PLAIN", "LOGIN"} & set(mechs))

    async def before_tls(self, s: Session, d: Draft) -> None:
        # On submission, a server must not take a message before TLS (RFC 8314): ask, then abandon.
        if self.target.service is not Service.SUBMISSION or not smtp.has(d.before, "STARTTLS"):
            return
        if smtp.has(d.before, "PIPELINING"):
            # RFC 2920: MAIL and RSET may share a round trip; the replies come back in order.
            await s.send(b"MAIL FROM:<>\r\nRSET\r\n", ANNOTATIONS["MAIL"] + " (pipelined with RSET)")
            mail = await self._reply(s)
            await self._reply(s)
        else:
            mail = await self._command(s, "MAIL FROM:<>", "MAIL")
            if mail.positive:
                await self._command(s, "RSET", "RSET")
        d.smtp = replace(d.smtp or SmtpFacts(), mail_before_tls=_fact(mail))

    async def after_capabilities(self, s: Session, d: Draft) -> None:
        facts = d.smtp or SmtpFacts()
        if self.target.service in (Service.SMTP, Service.SUBMISSION):
            vrfy = await self._command(s, "VRFY postmaster", "VRFY")
            expn = await self._command(s, "EXPN postmaster", "EXPN")
            facts = replace(facts, vrfy=_fact(vrfy), expn=_fact(expn))
        domain = self.cfg.relay_test_domain
        if domain and self.target.service is Service.SMTP:
            mail = await self._command(s, "MAIL FROM:<>", "MAIL")
            facts = replace(facts, relay_mail=_fact(mail))
            if mail.positive:
                rcpt = await self._command(s, f"RCPT TO:<mailprobe-relay-test@{domain}>", "RCPT")
                facts = replace(facts, relay_rcpt=_fact(rcpt))
                await self._command(s, "RSET", "RSET")
        d.smtp = facts

    async def quit(self, s: Session) -> None:
        # Say goodbye without waiting for 221: it saves a round trip and tells us nothing.
        await s.send(b"QUIT\r\n", ANNOTATIONS["QUIT"])


def _fact(reply: SmtpReply) -> Reply:
    return Reply(str(reply.code), reply.first_line)
