"""Protocol checks from hand-built handshakes and one live dialogue: evidence quotes what was seen, a closed
port is a port state, middlebox marks are named."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from build import session
from judging import codes, findings

from mailprobe.config import Config, Limits
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.model import (
    Capability,
    DomainDns,
    HandshakeResult,
    MxHost,
    MxStatus,
    Pop3Facts,
    ProbeStatus,
    Reply,
    Service,
    Severity,
    SmtpFacts,
    StartTlsOutcome,
    Target,
)
from mailprobe.probes.registry import handshake


def _smtp(greeting_host: str, origin: str = "mx") -> HandshakeResult:
    target = Target("mx.example.test", "203.0.113.25", 25, Service.SMTP, origin)
    return HandshakeResult(
        target, ProbeStatus.SUCCESS, "ok", 1.0, greeting_code="220", starttls=StartTlsOutcome.OK,
        smtp=SmtpFacts(greeting_host=greeting_host),
    )  # fmt: skip


def _domain(ptr_name: str) -> DomainDns:
    mx = MxHost(10, "mx.example.test", ("203.0.113.25",), ptr=(("203.0.113.25", ptr_name),))
    return DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(mx,))


def test_banner_against_ptr() -> None:
    assert "SMTP-BANNER-PTR-MISMATCH" not in codes(
        dns=(_domain("mx.example.test"),), handshakes=(_smtp("mx.example.test"),)
    )
    found = [
        f for f in findings(dns=(_domain("host-25.isp.test"),), handshakes=(_smtp("mx.example.test"),))
        if f.code == "SMTP-BANNER-PTR-MISMATCH"
    ]  # fmt: skip
    assert len(found) == 1 and "host-25.isp.test" in found[0].evidence
    assert "SMTP-BANNER-PTR-MISMATCH" not in codes(dns=(_domain(""),), handshakes=(_smtp("mx.example.test"),))


def test_greeting_naming_the_provider_is_a_note() -> None:
    [note] = [f for f in findings(handshakes=(_smtp("mx7.provider.test"),)) if f.code == "SMTP-BANNER-MISMATCH"]
    assert note.severity is Severity.INFO
    assert "SMTP-BANNER-MISMATCH" not in codes(handshakes=(_smtp("mx7.provider.test", origin="user"),))


def test_pop3_expire_zero() -> None:
    target = Target("mx", "203.0.113.25", 110, Service.POP3)
    caps = (Capability("EXPIRE", ("0",), "EXPIRE 0"),)
    deletes = HandshakeResult(
        target, ProbeStatus.SUCCESS, "ok", 1.0, greeting_code="+OK", capabilities_before=caps,
        starttls=StartTlsOutcome.OK, pop3=Pop3Facts(expire="0"),
    )  # fmt: skip
    keeps = HandshakeResult(
        target, ProbeStatus.SUCCESS, "ok", 1.0, greeting_code="+OK", starttls=StartTlsOutcome.OK,
        pop3=Pop3Facts(expire="30"),
    )  # fmt: skip
    [expire] = [f for f in findings(handshakes=(deletes,)) if f.code == "POP3-EXPIRE-ZERO"]
    assert expire.evidence == "CAPA: EXPIRE 0"
    assert "POP3-EXPIRE-ZERO" not in codes(handshakes=(keeps,))


def test_pop3_plaintext_login_quotes_the_capa_lines() -> None:
    caps = (Capability("STLS", (), "STLS"), Capability("USER", (), "USER"), Capability("TOP", (), "TOP"))
    h = HandshakeResult(
        Target("pop.example.test", "203.0.113.25", 110, Service.POP3, "user"), ProbeStatus.SUCCESS, "ok", 1.0,
        greeting_code="+OK", capabilities_before=caps, starttls=StartTlsOutcome.OK, plaintext_login_before_tls=True,
        pop3=Pop3Facts(),
    )  # fmt: skip
    [found] = [f for f in findings(handshakes=(h,)) if f.code == "POP3-PLAINTEXT-LOGIN"]
    assert found.evidence == "CAPA before TLS: USER"  # what the server sent, no invented SASL line


@pytest.mark.parametrize(
    ("status", "code", "severity"),
    [
        (ProbeStatus.REFUSED, "PORT-CLOSED", Severity.INFO),
        (ProbeStatus.CONNECT_TIMEOUT, "PORT-FILTERED", Severity.LOW),
        (ProbeStatus.IO_TIMEOUT, "HANDSHAKE-FAILED", Severity.HIGH),  # accepted, then nothing: broken, not absent
    ],
)
def test_a_closed_port_is_not_a_failed_handshake(status: ProbeStatus, code: str, severity: Severity) -> None:
    h = HandshakeResult(Target("mx.example.test", "203.0.113.25", 110, Service.POP3, "user"), status, "why", 1.0)
    [found] = findings(handshakes=(h,))
    assert (found.code, found.severity) == (code, severity)
    assert found.places[0].startswith("mx.example.test [203.0.113.25]:110")


def test_xxxxxxxa_is_a_firewall_not_the_server() -> None:
    caps = (Capability("PIPELINING", (), "PIPELINING"), Capability("XXXXXXXA", (), "XXXXXXXA"))
    h = session("mx.example.test", starttls=StartTlsOutcome.NOT_OFFERED, before=caps)
    h = replace(h, smtp=SmtpFacts(greeting_host="", starttls_masked=True, greeting_masked=True))
    found = {f.code: f for f in findings(handshakes=(h,))}
    assert "SMTP-NO-STARTTLS" not in found
    assert found["SMTP-STARTTLS-MASKED"].evidence == "EHLO: XXXXXXXA"
    assert "SMTP-GREETING-MASKED" in found


@pytest.mark.parametrize(
    ("reply", "advertised", "enabled"),
    [
        ("250 2.1.5 <postmaster@example.test>", False, True),
        ("252 2.0.0 postmaster", True, True),  # Postfix with disable_vrfy_command = no
        ("252 Cannot VRFY user, but will accept message and attempt delivery", False, False),  # refuses to tell
        ("502 5.5.1 VRFY command is disabled", True, False),
    ],
)
def test_vrfy_enabled(reply: str, advertised: bool, enabled: bool) -> None:
    target = Target("mx", "203.0.113.25", 25, Service.SMTP)
    caps = (Capability("VRFY"),) if advertised else ()
    h = HandshakeResult(
        target, ProbeStatus.SUCCESS, "ok", 1.0, greeting_code="220", capabilities_before=caps,
        starttls=StartTlsOutcome.OK, smtp=SmtpFacts(vrfy=Reply(reply[:3], reply)),
    )  # fmt: skip
    assert ("SMTP-VRFY-ENABLED" in codes(handshakes=(h,))) is enabled


@pytest.fixture
def pki() -> Iterator[DemoPki]:
    with DemoPki.create(["mx.demo.mailprobe.test"]) as made:
        yield made


async def test_pipelined_mail_and_rset_cost_one_round_trip(pki: DemoPki) -> None:
    server = SmtpServer(pki.server_context())
    port = await server.start()
    try:
        cfg = Config(limits=Limits(read_timeout=2, session_timeout=5), ca_file=pki.ca_pem_path)
        target = Target("mx.demo.mailprobe.test", "127.0.0.1", port, Service.SUBMISSION)
        result = await handshake(target, cfg)
    finally:
        await server.stop()
    assert "PIPELINING" in {c.keyword for c in result.capabilities_before}
    sent = [e.data for e in result.transcript if e.direction.value == "C"]
    assert b"MAIL FROM:<>\r\nRSET\r\n" in sent
    # connect, greeting, EHLO, MAIL+RSET, STARTTLS, TLS, EHLO, VRFY, EXPN
    assert result.round_trips == 9
    assert result.smtp is not None and result.smtp.mail_before_tls is not None
