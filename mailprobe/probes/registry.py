"""One registry: a protocol → its probe class. Adding a protocol is one file and one line here."""

from __future__ import annotations

from mailprobe.config import Config
from mailprobe.model import HandshakeResult, Protocol, Target
from mailprobe.probes.base import MailProbe, Opener
from mailprobe.probes.imap import ImapProbe
from mailprobe.probes.pop3 import Pop3Probe
from mailprobe.probes.smtp import SmtpProbe

PROBES: dict[Protocol, type[MailProbe]] = {
    Protocol.SMTP: SmtpProbe,
    Protocol.POP3: Pop3Probe,
    Protocol.IMAP: ImapProbe,
}


async def handshake(target: Target, cfg: Config, opener: Opener | None = None) -> HandshakeResult:
    """Run the handshake for the target's service. Expected failures come back as statuses, not exceptions."""
    return await PROBES[target.service.protocol](target, cfg, opener).run()
