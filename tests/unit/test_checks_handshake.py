"""Handshake checks that need more than one result, and the round-trip count of a pipelined dialogue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailprobe.checks.handshake import check_banner_ptr, check_pop3_expire
from mailprobe.config import Config, Limits
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.model import (
    DomainDns,
    HandshakeResult,
    MxHost,
    MxStatus,
    ProbeStatus,
    Report,
    Service,
    Target,
)
from mailprobe.probes.registry import handshake


def _smtp(greeting_host: str) -> HandshakeResult:
    target = Target("mx.example.test", "203.0.113.25", 25, Service.SMTP, "mx")
    return HandshakeResult(
        target, ProbeStatus.SUCCESS, "ok", 1.0, greeting_code="220", facts=(("greeting_host", greeting_host),)
    )


def _report(ptr_name: str, *handshakes: HandshakeResult) -> Report:
    mx = MxHost(10, "mx.example.test", ("203.0.113.25",), ptr=(("203.0.113.25", ptr_name),))
    domain = DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(mx,))
    return Report("audit", ("example.test",), "2026-11-26T00:00:00+00:00", 1.0, dns=(domain,), handshakes=handshakes)


def test_banner_against_ptr() -> None:
    assert [f.code for f in check_banner_ptr(_report("mx.example.test.", _smtp("mx.example.test")))] == []
    found = list(check_banner_ptr(_report("host-25.isp.test", _smtp("mx.example.test"))))
    assert [f.code for f in found] == ["SMTP-BANNER-PTR-MISMATCH"]
    assert "host-25.isp.test" in found[0].evidence
    assert list(check_banner_ptr(_report("", _smtp("mx.example.test")))) == []  # no PTR: PTR-MISSING's job


def test_pop3_expire_zero() -> None:
    target = Target("mx", "203.0.113.25", 110, Service.POP3)
    deletes = HandshakeResult(target, ProbeStatus.SUCCESS, "ok", 1.0, facts=(("expire", "0"),))
    keeps = HandshakeResult(target, ProbeStatus.SUCCESS, "ok", 1.0, facts=(("expire", "30"),))
    assert [f.code for f in check_pop3_expire(deletes)] == ["POP3-EXPIRE-ZERO"]
    assert list(check_pop3_expire(keeps)) == []


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
    assert result.fact("mail_before_tls") is not None


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
    from mailprobe.checks.handshake import check_handshake
    from mailprobe.model import Capability, StartTlsOutcome

    target = Target("mx", "203.0.113.25", 25, Service.SMTP)
    caps = (Capability("VRFY"),) if advertised else ()
    h = HandshakeResult(
        target,
        ProbeStatus.SUCCESS,
        "ok",
        1.0,
        greeting_code="220",
        capabilities_before=caps,
        starttls=StartTlsOutcome.NOT_ATTEMPTED,
        facts=(("vrfy", reply),),
    )
    assert ("SMTP-VRFY-ENABLED" in {f.code for f in check_handshake(h)}) is enabled
