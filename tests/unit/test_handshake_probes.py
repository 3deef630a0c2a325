"""The handshake probes against in-process servers: well-behaved ones, bad certificates and hostile ones.

Every hostile behaviour must end as a classified status within the deadline, never a hang or a crash.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from hostile_server import INJECTED_MARK, HostileMode, HostileServer
from judging import codes as judged_codes

from mailprobe.config import Config, Limits
from mailprobe.demo.imap_server import ImapServer
from mailprobe.demo.lineserver import Listener
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.pop3_server import Pop3Server
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.model import Direction, HandshakeResult, ProbeStatus, Protocol, Service, StartTlsOutcome, Target
from mailprobe.probes.registry import handshake

NAME = "mx.demo.mailprobe.test"
FAST = Limits(
    connect_timeout=1.0, read_timeout=1.0, session_timeout=3.0, max_line=1024, max_reply=16384, max_session=65536
)


@pytest.fixture(scope="module")
def pki() -> Iterator[DemoPki]:
    with DemoPki.create([NAME]) as made:
        yield made


def cfg_for(pki: DemoPki, **changes: object) -> Config:
    return Config(limits=FAST, ca_file=pki.ca_pem_path, **changes)  # type: ignore[arg-type]


async def probe(listener: Listener, service: Service, cfg: Config, host: str = NAME) -> HandshakeResult:
    port = await listener.start()
    try:
        return await handshake(Target(host, "127.0.0.1", port, service), cfg)
    finally:
        await listener.stop()


def codes(result: HandshakeResult) -> set[str]:
    return set(judged_codes(handshakes=(result,)))


async def test_smtp_starttls_then_auth_only_after_tls(pki: DemoPki) -> None:
    result = await probe(SmtpServer(pki.server_context()), Service.SUBMISSION, cfg_for(pki))
    assert result.status is ProbeStatus.SUCCESS, result.reason
    assert result.starttls is StartTlsOutcome.OK
    assert "STARTTLS" in {c.keyword for c in result.capabilities_before}
    assert result.auth_before_tls == ()
    assert "PLAIN" in result.auth_after_tls
    assert result.tls is not None and result.tls.verified and result.tls.hostname_match
    assert result.tls.version in ("TLSv1.2", "TLSv1.3")
    directions = [e.direction for e in result.transcript]
    assert Direction.TLS in directions
    assert b"EHLO" in result.transcript[directions.index(Direction.TLS) + 1].data  # EHLO asked again over TLS


async def test_implicit_tls_smtp_pop3_imap(pki: DemoPki) -> None:
    cfg = cfg_for(pki)
    for listener, service in (
        (SmtpServer(pki.server_context(), implicit_tls=True), Service.SUBMISSIONS),
        (Pop3Server(pki.server_context(), implicit_tls=True), Service.POP3S),
        (ImapServer(pki.server_context(), implicit_tls=True), Service.IMAPS),
    ):
        result = await probe(listener, service, cfg)
        assert result.status is ProbeStatus.SUCCESS, (service, result.reason)
        assert result.starttls is StartTlsOutcome.NOT_APPLICABLE
        assert result.tls is not None and result.tls.verified
        assert result.capabilities_after


async def test_pop3_and_imap_starttls(pki: DemoPki) -> None:
    cfg = cfg_for(pki)
    pop = await probe(Pop3Server(pki.server_context()), Service.POP3, cfg)
    assert pop.status is ProbeStatus.SUCCESS and pop.starttls is StartTlsOutcome.OK, pop.reason
    assert not pop.plaintext_login_before_tls
    assert pop.pop3 is not None and pop.pop3.apop_timestamp
    imap = await probe(ImapServer(pki.server_context()), Service.IMAP, cfg)
    assert imap.status is ProbeStatus.SUCCESS and imap.starttls is StartTlsOutcome.OK, imap.reason
    assert "LOGINDISABLED" in {c.keyword for c in imap.capabilities_before}
    assert not imap.plaintext_login_before_tls
    assert codes(pop) == set() and codes(imap) == set()


async def test_imap_plaintext_login_and_preauth_are_findings(pki: DemoPki) -> None:
    cfg = cfg_for(pki)
    loose = await probe(ImapServer(pki.server_context(), allow_plaintext_login=True), Service.IMAP, cfg)
    assert "IMAP-PLAINTEXT-LOGIN" in codes(loose)
    pre = await probe(ImapServer(pki.server_context(), preauth=True), Service.IMAP, cfg)
    assert "IMAP-PREAUTH" in codes(pre)


async def test_no_starttls_is_a_finding(pki: DemoPki) -> None:
    result = await probe(Pop3Server(None, starttls=False, allow_plaintext_auth=True), Service.POP3, cfg_for(pki))
    assert result.starttls is StartTlsOutcome.NOT_OFFERED
    assert {"POP3-NO-STLS", "POP3-PLAINTEXT-LOGIN"} <= codes(result)


@pytest.mark.parametrize(
    ("context_name", "expected"),
    [
        ("expired_context", "TLS-CERT-EXPIRED"),
        ("wrong_name_context", "TLS-HOSTNAME-MISMATCH"),
        ("untrusted_context", "TLS-CERT-UNTRUSTED"),
        ("not_yet_valid_context", "TLS-CERT-NOT-YET-VALID"),
    ],
)
async def test_bad_certificates_are_recorded_and_judged(pki: DemoPki, context_name: str, expected: str) -> None:
    context = getattr(pki, context_name)()
    result = await probe(SmtpServer(context, implicit_tls=True), Service.SUBMISSIONS, cfg_for(pki))
    assert result.status is ProbeStatus.SUCCESS, result.reason  # what was served is still recorded
    assert result.tls is not None and result.tls.leaf is not None
    assert expected in codes(result)
    if expected != "TLS-HOSTNAME-MISMATCH":
        assert not result.tls.verified


async def test_legacy_tls_probe_runs_separate_handshakes(pki: DemoPki) -> None:
    result = await probe(SmtpServer(pki.server_context()), Service.SMTP, cfg_for(pki, check_legacy_tls=True))
    assert result.status is ProbeStatus.SUCCESS
    assert result.tls is not None
    assert result.tls.legacy_versions == ()  # Python's default server context refuses TLS 1.0/1.1
    assert result.tls.legacy_unknown == ()  # refused is an answer: both were judged


async def test_a_legacy_version_this_machine_cannot_offer_is_not_tried_nor_called_refused(
    pki: DemoPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the local OpenSSL built without TLS 1.0 (or a crypto policy forbid it), its failed handshake would
    say nothing about the server: not tried, reported apart from the server's refusals."""
    import ssl

    from mailprobe.probes import base

    monkeypatch.setattr(base, "offers_version", lambda version: version is not ssl.TLSVersion.TLSv1)
    result = await probe(SmtpServer(pki.server_context()), Service.SMTP, cfg_for(pki, check_legacy_tls=True))
    assert result.status is ProbeStatus.SUCCESS and result.tls is not None
    assert (result.tls.legacy_versions, result.tls.legacy_unknown) == ((), ())  # TLS 1.1 refused by the server
    assert result.tls.legacy_not_offered == ("TLSv1.0",)
    assert "TLS-LEGACY-NOT-JUDGED" in codes(result)


def test_this_machines_openssl_is_asked_what_it_can_offer() -> None:
    """offers_version asks OpenSSL for a ClientHello in memory: here TLS 1.0 can be offered (the lab's servers
    are tested with it), and a context whose versions exclude one another cannot offer anything."""
    import ssl

    from mailprobe.net import transport

    assert transport.offers_version(ssl.TLSVersion.TLSv1) and transport.offers_version(ssl.TLSVersion.TLSv1_3)
    assert not transport._offers(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2)


HOSTILE_CASES = [
    (HostileMode.NASTY_BANNER, Protocol.SMTP, Service.SMTP, {ProbeStatus.SUCCESS}),
    (HostileMode.DRIP, Protocol.SMTP, Service.SMTP, {ProbeStatus.SESSION_TIMEOUT, ProbeStatus.IO_TIMEOUT}),
    (HostileMode.ENDLESS_LINE, Protocol.SMTP, Service.SMTP, {ProbeStatus.LIMIT_EXCEEDED}),
    (HostileMode.HUGE_REPLY, Protocol.SMTP, Service.SMTP, {ProbeStatus.LIMIT_EXCEEDED}),
    (HostileMode.HUGE_REPLY, Protocol.POP3, Service.POP3, {ProbeStatus.LIMIT_EXCEEDED}),
    (HostileMode.IMAP_HUGE_LITERAL, Protocol.IMAP, Service.IMAP, {ProbeStatus.LIMIT_EXCEEDED}),
    (HostileMode.IMAP_NEGATIVE_LITERAL, Protocol.IMAP, Service.IMAP, {ProbeStatus.PROTOCOL_ERROR}),
    (HostileMode.STARTTLS_REFUSED, Protocol.SMTP, Service.SMTP, {ProbeStatus.SUCCESS}),
    (HostileMode.GREETING_421, Protocol.SMTP, Service.SMTP, {ProbeStatus.SERVICE_UNAVAILABLE}),
    (HostileMode.GREETING_554, Protocol.SMTP, Service.SMTP, {ProbeStatus.SERVICE_UNAVAILABLE}),
    (HostileMode.CLOSE_AT_ONCE, Protocol.SMTP, Service.SMTP, {ProbeStatus.CLOSED}),
    (HostileMode.SILENT, Protocol.IMAP, Service.IMAP, {ProbeStatus.IO_TIMEOUT}),
    (HostileMode.BAD_CONTINUATION, Protocol.SMTP, Service.SMTP, {ProbeStatus.PROTOCOL_ERROR}),
    (HostileMode.RESET_AFTER_GREETING, Protocol.POP3, Service.POP3, {ProbeStatus.CLOSED}),
    (HostileMode.PLAINTEXT_ON_TLS_PORT, Protocol.SMTP, Service.SUBMISSIONS, {ProbeStatus.TLS_HANDSHAKE_ERROR}),
    (HostileMode.TLS_ON_PLAIN_PORT, Protocol.SMTP, Service.SMTP, {ProbeStatus.IO_TIMEOUT}),
]


@pytest.mark.parametrize(("mode", "protocol", "service", "statuses"), HOSTILE_CASES, ids=lambda v: str(v))
async def test_hostile_servers_end_classified_within_the_deadline(
    pki: DemoPki, mode: HostileMode, protocol: Protocol, service: Service, statuses: set[ProbeStatus]
) -> None:
    server = HostileServer(mode, protocol, tls_context=pki.server_context(), interval=0.05, lifetime=10)
    started = time.monotonic()
    result = await asyncio.wait_for(probe(server, service, cfg_for(pki)), timeout=10)
    elapsed = time.monotonic() - started
    assert result.status in statuses, (result.status, result.reason)
    assert elapsed < FAST.session_timeout + 2 * FAST.read_timeout + 1  # bounded: deadline plus the hint probes


async def test_plaintext_on_tls_port_is_named(pki: DemoPki) -> None:
    server = HostileServer(HostileMode.PLAINTEXT_ON_TLS_PORT, Protocol.SMTP, tls_context=pki.server_context())
    result = await probe(server, Service.SUBMISSIONS, cfg_for(pki))
    assert "plaintext" in result.reason
    assert "TLS-PLAINTEXT-ON-TLS-PORT" in codes(result)


async def test_tls_on_plain_port_is_named(pki: DemoPki) -> None:
    server = HostileServer(HostileMode.TLS_ON_PLAIN_PORT, Protocol.SMTP, tls_context=pki.server_context())
    result = await probe(server, Service.SMTP, cfg_for(pki))
    assert "implicit TLS" in result.reason


async def test_starttls_injection_is_discarded_and_flagged(pki: DemoPki) -> None:
    server = HostileServer(HostileMode.STARTTLS_INJECTION, Protocol.SMTP, tls_context=pki.server_context())
    result = await probe(server, Service.SMTP, cfg_for(pki))
    assert result.injected_bytes > 0
    assert "STARTTLS-INJECTION" in codes(result)
    after = " ".join(c.raw for c in result.capabilities_after)
    assert INJECTED_MARK.decode() not in after  # nothing learned before TLS was trusted after it


async def test_starttls_refused_never_continues_as_encrypted(pki: DemoPki) -> None:
    server = HostileServer(HostileMode.STARTTLS_REFUSED, Protocol.SMTP, tls_context=pki.server_context())
    result = await probe(server, Service.SMTP, cfg_for(pki))
    assert result.starttls is StartTlsOutcome.REFUSED
    assert result.tls is None and result.capabilities_after == ()
    assert "STARTTLS-REFUSED" in codes(result)


async def test_nasty_banner_is_kept_losslessly(pki: DemoPki) -> None:
    server = HostileServer(HostileMode.NASTY_BANNER, Protocol.SMTP, tls_context=pki.server_context())
    result = await probe(server, Service.SMTP, cfg_for(pki))
    greeting = next(e for e in result.transcript if e.direction is Direction.SERVER)
    assert b"\x1b[31;1m" in greeting.data and b"\x00" in greeting.data and b"\xff\xfe" in greeting.data


async def test_refused_port_is_a_status(pki: DemoPki) -> None:
    listener = SmtpServer(None)
    port = await listener.start()
    await listener.stop()  # now nothing listens there
    result = await handshake(Target(NAME, "127.0.0.1", port, Service.SMTP), cfg_for(pki))
    assert result.status is ProbeStatus.REFUSED


async def _unused() -> AsyncIterator[None]:  # keeps the AsyncIterator import honest for type checkers
    yield None
