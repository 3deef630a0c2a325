"""IMAP handshake (143; 993 implicit TLS): greeting, CAPABILITY, STARTTLS, CAPABILITY again."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from mailprobe.config import Config
from mailprobe.model import Capability, ImapFacts, ProbeStatus, Protocol, Reply, Target
from mailprobe.net.transport import Session
from mailprobe.probes.base import Draft, MailProbe, Opener, Stop
from mailprobe.protocols import imap
from mailprobe.protocols.imap import ANNOTATIONS, ImapResponse


class ImapProbe(MailProbe):
    protocol = Protocol.IMAP
    tls_keyword = "STARTTLS"

    _greeting_caps: tuple[Capability, ...] = ()

    def __init__(self, target: Target, cfg: Config, opener: Opener | None = None) -> None:
        super().__init__(target, cfg, opener)
        self._tags: dict[int, int] = {}  # per session (by id): side sessions run beside the main one

    def _next_tag(self, s: Session) -> str:
        """mp1, mp2, ... per session, so a dialogue reads the same however its side sessions interleave."""
        self._tags[id(s)] = self._tags.get(id(s), 0) + 1
        return f"mp{self._tags[id(s)]}"

    async def _command(self, s: Session, command: str) -> ImapResponse:
        tag = self._next_tag(s)
        await s.send(f"{tag} {command}\r\n".encode("ascii"), ANNOTATIONS.get(command, ""))
        parse = partial(imap.parse_tagged, tag=tag, max_line=self.limits.max_line, max_literal=self.limits.max_reply)
        return await s.read(parse)

    async def greet(self, s: Session, d: Draft) -> None:
        parse = partial(imap.parse_greeting, max_line=self.limits.max_line, max_literal=self.limits.max_reply)
        reply = await s.read(parse, ANNOTATIONS["greeting"])
        d.banner = reply.text
        d.greeting_code = f"* {reply.status}"
        self._greeting_caps = imap.capabilities(reply)
        d.imap = ImapFacts(preauth=reply.status == "PREAUTH")
        if reply.status == "BYE":
            d.status = ProbeStatus.SERVICE_UNAVAILABLE
            d.reason = f"server refused service: {reply.first_line}"
            raise Stop

    async def capabilities(self, s: Session, d: Draft, after_tls: bool) -> tuple[Capability, ...]:
        reply = await self._command(s, "CAPABILITY")
        facts = d.imap or ImapFacts()
        if reply.status != "OK":
            refusal = Reply(reply.status, reply.first_line)
            if after_tls:
                d.imap = replace(facts, capability_refused_after_tls=refusal)
            else:
                d.imap = replace(facts, capability_refused=refusal)
            return self._greeting_caps if not after_tls else ()
        caps = imap.capabilities(reply)
        if (
            not after_tls
            and self._greeting_caps
            and {c.keyword for c in self._greeting_caps} != {c.keyword for c in caps}
        ):
            d.imap = replace(facts, greeting_capabilities=tuple(c.raw for c in self._greeting_caps))
        return caps

    async def ask_starttls(self, s: Session, d: Draft) -> bool:
        reply = await self._command(s, "STARTTLS")
        d.starttls_reply = reply.first_line
        return reply.status == "OK"

    def record_auth(self, d: Draft, caps: tuple[Capability, ...], after_tls: bool) -> None:
        mechs = imap.auth_mechanisms(caps)
        if after_tls:
            d.auth_after = mechs
        else:
            d.auth_before = mechs
            d.plaintext_login_before = not imap.has(caps, "LOGINDISABLED") or bool({"PLAIN", "LOGIN"} & set(mechs))

    async def quit(self, s: Session) -> None:
        await s.send(f"{self._next_tag(s)} LOGOUT\r\n".encode("ascii"), ANNOTATIONS["LOGOUT"])
