"""Real dialogues with the demo servers over loopback (plain asyncio streams, not mailprobe's client)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import ssl
import time
from collections.abc import Iterator

import dns.asyncquery
import dns.message
import dns.rdatatype
import dns.reversename
import pytest
from streams import Stream, close, line, needs_stream_start_tls, open_stream, run

from mailprobe.demo.imap_server import ImapServer
from mailprobe.demo.lab import DemoEndpoints, DemoLab
from mailprobe.demo.lineserver import Listener
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.pop3_server import Pop3Server
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.model import Service
from mailprobe.net import guard

MX = "mx.demo.mailprobe.test"


@pytest.fixture(scope="module")
def pki() -> Iterator[DemoPki]:
    with DemoPki.create([MX]) as made:
        yield made


# --- client helpers ---------------------------------------------------------------------------------


connect = functools.partial(open_stream, name=MX)


async def smtp_reply(reader: asyncio.StreamReader) -> list[bytes]:
    lines = [await line(reader)]
    while lines[-1][3:4] == b"-":
        lines.append(await line(reader))
    return lines


async def smtp(stream: Stream, command: bytes) -> list[bytes]:
    reader, writer = stream
    writer.write(command + b"\r\n")
    return await smtp_reply(reader)


async def pop3(stream: Stream, command: bytes) -> bytes:
    stream[1].write(command + b"\r\n")
    return await line(stream[0])


async def pop3_multi(stream: Stream, command: bytes) -> list[bytes]:
    reader, writer = stream
    writer.write(command + b"\r\n")
    lines = [await line(reader)]
    if lines[0].startswith(b"+OK"):
        while lines[-1] != b".\r\n":
            lines.append(await line(reader))
    return lines


async def imap(stream: Stream, tag: bytes, command: bytes) -> list[bytes]:
    reader, writer = stream
    writer.write(tag + b" " + command + b"\r\n")
    lines = [await line(reader)]
    while not lines[-1].startswith(tag + b" "):
        lines.append(await line(reader))
    return lines


def keywords(ehlo: list[bytes]) -> set[str]:
    return {x[4:].decode().strip().split(" ")[0] for x in ehlo[1:]}


def imap_caps(lines: list[bytes]) -> set[str]:
    for x in lines:
        if x.startswith(b"* CAPABILITY "):
            return set(x.decode().split()[2:])
    raise AssertionError(f"no CAPABILITY in {lines!r}")


async def upgrade(stream: Stream, ctx: ssl.SSLContext) -> None:
    await stream[1].start_tls(ctx, server_hostname=MX)
    peer = stream[1].get_extra_info("peercert")
    assert peer is not None and ("DNS", MX) in peer["subjectAltName"]


async def served(listener: Listener) -> int:
    return await listener.start()


# --- PKI ---------------------------------------------------------------------------------------------


def _handshake_error(server_ctx: ssl.SSLContext, client: ssl.SSLContext) -> str | None:
    """Run one TLS handshake over loopback; the client's verification error, or None if it verified."""

    async def go() -> str | None:
        async with Pop3Server(server_ctx, implicit_tls=True) as server:
            try:
                stream = await connect(server.port, client)
            except ssl.SSLCertVerificationError as exc:
                return str(exc.verify_message)
            await close(stream[1])
            return None

    return run(go())


def test_pki_certificate_verifies_against_the_demo_ca(pki: DemoPki) -> None:
    assert os.path.isfile(pki.ca_pem_path)
    assert _handshake_error(pki.server_context(), pki.client_context()) is None


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.expired_context(), "expired"),
        (lambda p: p.not_yet_valid_context(), "not yet valid"),
        (lambda p: p.wrong_name_context(), "mismatch"),
        (lambda p: p.untrusted_context(), "unable to get local issuer"),
    ],
    ids=["expired", "not-yet-valid", "wrong-name", "untrusted"],
)
def test_pki_bad_certificates_fail_verification(pki: DemoPki, make: object, expected: str) -> None:
    error = _handshake_error(make(pki), pki.client_context())  # type: ignore[operator]
    assert error is not None and expected in error.lower()


def test_pki_close_removes_the_ca_file() -> None:
    made = DemoPki.create(["a.test"])
    path = made.ca_pem_path
    assert os.path.exists(path)
    made.close()
    assert not os.path.exists(path)


# --- SMTP --------------------------------------------------------------------------------------------


@needs_stream_start_tls
def test_smtp_starttls_dialogue(pki: DemoPki) -> None:
    async def go() -> None:
        server = SmtpServer(pki.server_context())
        async with server:
            stream = await connect(server.port)
            greeting = await smtp_reply(stream[0])
            assert greeting == [f"220 {MX} ESMTP mailprobe demo\r\n".encode()]
            before = await smtp(stream, b"EHLO client.test")
            assert before[0] == f"250-{MX}\r\n".encode()
            assert "STARTTLS" in keywords(before) and "AUTH" not in keywords(before)
            assert (await smtp(stream, b"AUTH PLAIN AGEAYg=="))[0].startswith(b"538 5.7.11")
            assert (await smtp(stream, b"STARTTLS"))[0].startswith(b"220 ")
            await upgrade(stream, pki.client_context())
            after = await smtp(stream, b"EHLO client.test")
            assert "STARTTLS" not in keywords(after)
            assert any(x.startswith(b"250-AUTH ") and b"PLAIN" in x for x in after)
            assert (await smtp(stream, b"AUTH PLAIN AHVzZXIAcGFzcw=="))[0].startswith(b"535 5.7.8")
            assert (await smtp(stream, b"QUIT"))[0].startswith(b"221")
            await close(stream[1])

    run(go())


def test_smtp_refuses_relay_and_data_but_takes_local_recipients(pki: DemoPki) -> None:
    async def go() -> None:
        async with SmtpServer(pki.server_context()) as server:
            stream = await connect(server.port)
            await smtp_reply(stream[0])
            await smtp(stream, b"EHLO client.test")
            assert (await smtp(stream, b"MAIL FROM:<probe@client.test>"))[0].startswith(b"250")
            denied = await smtp(stream, b"RCPT TO:<someone@example.org>")
            assert denied == [b"554 5.7.1 <someone@example.org>: Relay access denied\r\n"]
            assert (await smtp(stream, b"RCPT TO:<postmaster@demo.mailprobe.test>"))[0].startswith(b"250")
            assert (await smtp(stream, b"DATA"))[0].startswith(b"554 ")
            await close(stream[1])

    run(go())


def test_smtp_open_relay_takes_any_recipient(pki: DemoPki) -> None:
    async def go() -> None:
        async with SmtpServer(pki.server_context(), open_relay=True) as server:
            stream = await connect(server.port)
            await smtp_reply(stream[0])
            await smtp(stream, b"EHLO client.test")
            await smtp(stream, b"MAIL FROM:<probe@client.test>")
            assert (await smtp(stream, b"RCPT TO:<someone@example.org>"))[0].startswith(b"250")
            assert (await smtp(stream, b"DATA"))[0].startswith(b"554 ")  # still never takes a message
            await close(stream[1])

    run(go())


def test_smtp_require_starttls_refuses_mail_before_tls(pki: DemoPki) -> None:
    async def go() -> None:
        async with SmtpServer(pki.server_context(), require_starttls=True) as server:
            stream = await connect(server.port)
            await smtp_reply(stream[0])
            await smtp(stream, b"EHLO client.test")
            assert (await smtp(stream, b"MAIL FROM:<probe@client.test>"))[0].startswith(b"530")
            await close(stream[1])

    run(go())


@needs_stream_start_tls
def test_smtp_discards_plaintext_pipelined_behind_starttls(pki: DemoPki) -> None:
    async def go() -> None:
        async with SmtpServer(pki.server_context()) as server:
            stream = await connect(server.port)
            await smtp_reply(stream[0])
            await smtp(stream, b"EHLO client.test")
            stream[1].write(b"STARTTLS\r\nFROB\r\n")  # FROB must not be answered after the handshake
            assert (await smtp_reply(stream[0]))[0].startswith(b"220 ")
            await upgrade(stream, pki.client_context())
            assert await smtp(stream, b"NOOP") == [b"250 OK\r\n"]
            await close(stream[1])

    run(go())


def test_smtp_implicit_tls(pki: DemoPki) -> None:
    async def go() -> None:
        async with SmtpServer(pki.server_context(), implicit_tls=True) as server:
            stream = await connect(server.port, pki.client_context())
            assert (await smtp_reply(stream[0]))[0].startswith(f"220 {MX} ".encode())
            ehlo = await smtp(stream, b"EHLO client.test")
            assert "AUTH" in keywords(ehlo) and "STARTTLS" not in keywords(ehlo)
            await close(stream[1])

    run(go())


# --- POP3 --------------------------------------------------------------------------------------------


@needs_stream_start_tls
def test_pop3_stls_dialogue(pki: DemoPki) -> None:
    async def go() -> None:
        async with Pop3Server(pki.server_context()) as server:
            stream = await connect(server.port)
            greeting = await line(stream[0])
            assert re.fullmatch(rb"\+OK <\d+\.\d+@mx\.demo\.mailprobe\.test> demo POP3 ready\r\n", greeting)
            before = await pop3_multi(stream, b"CAPA")
            assert before[0].startswith(b"+OK") and before[-1] == b".\r\n"
            caps = {x.strip() for x in before[1:-1]}
            assert {b"TOP", b"UIDL", b"RESP-CODES", b"PIPELINING", b"STLS"} <= caps
            assert not any(x.startswith((b"USER", b"SASL")) for x in caps)
            assert (await pop3(stream, b"USER someone")).startswith(b"-ERR [AUTH]")
            # FROB, pipelined in plaintext behind STLS, must not be answered once TLS is up.
            assert (await pop3(stream, b"STLS\r\nFROB")).startswith(b"+OK")
            await upgrade(stream, pki.client_context())
            assert await pop3(stream, b"NOOP") == b"+OK\r\n"
            after = {x.strip() for x in (await pop3_multi(stream, b"CAPA"))[1:-1]}
            assert {b"USER", b"SASL PLAIN"} <= after and b"STLS" not in after
            assert (await pop3(stream, b"STLS")).startswith(b"-ERR")
            assert (await pop3(stream, b"USER someone")).startswith(b"+OK")
            assert (await pop3(stream, b"PASS secret")).startswith(b"-ERR [AUTH]")
            assert (await pop3(stream, b"QUIT")).startswith(b"+OK")
            assert await asyncio.wait_for(stream[0].read(), 5) == b""
            await close(stream[1])

    run(go())


def test_pop3_implicit_tls_offers_user_at_once(pki: DemoPki) -> None:
    async def go() -> None:
        async with Pop3Server(pki.server_context(), implicit_tls=True) as server:
            stream = await connect(server.port, pki.client_context())
            assert (await line(stream[0])).startswith(b"+OK <")
            caps = {x.strip() for x in (await pop3_multi(stream, b"CAPA"))[1:-1]}
            assert b"USER" in caps and b"STLS" not in caps
            await close(stream[1])

    run(go())


def test_pop3_unknown_command_and_idle_timeout(pki: DemoPki) -> None:
    async def go() -> None:
        async with Pop3Server(pki.server_context(), timeout=0.2) as server:
            stream = await connect(server.port)
            await line(stream[0])
            assert (await pop3(stream, b"FROB")).startswith(b"-ERR")
            started = time.monotonic()
            assert await asyncio.wait_for(stream[0].read(), 5) == b""  # the server hung up on us
            assert time.monotonic() - started < 2
            await close(stream[1])

    run(go())


# --- IMAP --------------------------------------------------------------------------------------------


@needs_stream_start_tls
def test_imap_starttls_dialogue(pki: DemoPki) -> None:
    async def go() -> None:
        async with ImapServer(pki.server_context()) as server:
            stream = await connect(server.port)
            greeting = await line(stream[0])
            assert greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED IDLE ID]")
            before = imap_caps(await imap(stream, b"a1", b"CAPABILITY"))
            assert {"IMAP4rev1", "STARTTLS", "LOGINDISABLED", "IDLE", "ID"} <= before
            assert not any(c.startswith("AUTH=") for c in before)
            assert (await imap(stream, b"a2", b"LOGIN user pass"))[-1].startswith(b"a2 NO [PRIVACYREQUIRED]")
            assert (await imap(stream, b"a3", b"FROBNICATE"))[-1].startswith(b"a3 BAD")
            assert (await imap(stream, b"a4", b"STARTTLS\r\na9 FROB"))[-1].startswith(b"a4 OK")
            await upgrade(stream, pki.client_context())
            assert await imap(stream, b"a10", b"NOOP") == [b"a10 OK NOOP completed\r\n"]
            after = imap_caps(await imap(stream, b"a5", b"CAPABILITY"))
            assert {"AUTH=PLAIN", "CONDSTORE", "IDLE", "ID"} <= after
            assert "STARTTLS" not in after and "LOGINDISABLED" not in after
            assert (await imap(stream, b"a6", b"LOGIN user pass"))[-1].startswith(b"a6 NO [AUTHENTICATIONFAILED]")
            logout = await imap(stream, b"a7", b"LOGOUT")
            assert logout[0].startswith(b"* BYE") and logout[-1].startswith(b"a7 OK")
            assert await asyncio.wait_for(stream[0].read(), 5) == b""
            await close(stream[1])

    run(go())


def test_imap_implicit_tls(pki: DemoPki) -> None:
    async def go() -> None:
        async with ImapServer(pki.server_context(), implicit_tls=True) as server:
            stream = await connect(server.port, pki.client_context())
            greeting = await line(stream[0])
            assert greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN")
            assert b"STARTTLS" not in greeting and b"LOGINDISABLED" not in greeting
            await close(stream[1])

    run(go())


def test_imap_flags_preauth_plaintext_login_no_starttls(pki: DemoPki) -> None:
    async def go() -> None:
        ctx = pki.server_context()
        async with ImapServer(ctx, preauth=True) as server:
            stream = await connect(server.port)
            assert (await line(stream[0])).startswith(b"* PREAUTH [CAPABILITY ")
            assert (await imap(stream, b"p1", b"STARTTLS"))[-1].startswith(b"p1 BAD")
            await close(stream[1])
        async with ImapServer(ctx, allow_plaintext_login=True) as server:
            stream = await connect(server.port)
            await line(stream[0])
            caps = imap_caps(await imap(stream, b"l1", b"CAPABILITY"))
            assert "LOGINDISABLED" not in caps and "AUTH=PLAIN" in caps
            assert (await imap(stream, b"l2", b"LOGIN u p"))[-1].startswith(b"l2 NO [AUTHENTICATIONFAILED]")
            await close(stream[1])
        async with ImapServer(ctx, starttls=False) as server:
            stream = await connect(server.port)
            assert b"STARTTLS" not in await line(stream[0])
            assert "STARTTLS" not in imap_caps(await imap(stream, b"n1", b"CAPABILITY"))
            assert (await imap(stream, b"n2", b"STARTTLS"))[-1].startswith(b"n2 BAD")
            await close(stream[1])

    run(go())


# --- listener lifecycle ---------------------------------------------------------------------------------


def test_listener_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Pop3Server(None, host="0.0.0.0")
    with pytest.raises(ValueError, match="loopback"):
        ImapServer(None, host="203.0.113.5")


@needs_stream_start_tls
def test_stop_ends_live_connections_in_every_state(pki: DemoPki) -> None:
    """Plain, after STARTTLS, and stuck in an implicit-TLS handshake: stop() ends all, leaks nothing."""

    async def go() -> None:
        ctx = pki.server_context()
        smtp_server, imaps = SmtpServer(ctx), ImapServer(ctx, implicit_tls=True)
        pop3 = Pop3Server(ctx)
        for server in (smtp_server, imaps, pop3):
            await server.start()
        plain = await connect(pop3.port)
        await line(plain[0])
        upgraded = await connect(smtp_server.port)
        await smtp_reply(upgraded[0])
        await smtp(upgraded, b"STARTTLS")
        await upgrade(upgraded, pki.client_context())
        stuck = await connect(imaps.port)  # a plaintext client on a TLS port: the handshake never ends
        await asyncio.sleep(0.05)
        assert (pop3.connection_count, smtp_server.connection_count, imaps.connection_count) == (1, 1, 1)
        started = time.monotonic()
        for server in (smtp_server, imaps, pop3):
            await server.stop()
        assert time.monotonic() - started < 0.5
        assert (pop3.connection_count, smtp_server.connection_count, imaps.connection_count) == (0, 0, 0)
        for reader, writer in (plain, upgraded, stuck):
            with contextlib.suppress(OSError, ssl.SSLError):
                assert await asyncio.wait_for(reader.read(), 5) == b""
            await close(writer)

    run(go())


def test_finished_connections_are_forgotten(pki: DemoPki) -> None:
    async def go() -> None:
        async with ImapServer(pki.server_context()) as server:
            for _ in range(3):
                stream = await connect(server.port)
                await line(stream[0])
                await imap(stream, b"z", b"LOGOUT")
                await close(stream[1])
            for _ in range(100):
                if server.connection_count == 0:
                    break
                await asyncio.sleep(0.01)
            assert server.connection_count == 0

    run(go())


# --- the lab -----------------------------------------------------------------------------------------


async def _query(endpoints: DemoEndpoints, name: str, rdtype: str) -> list[str]:
    guard.check(endpoints.host)
    query = dns.message.make_query(name, rdtype)
    response = await dns.asyncquery.udp(query, endpoints.host, port=endpoints.dns_port, timeout=2)
    return [rdata.to_text() for rrset in response.answer for rdata in rrset]


async def _greeting(endpoints: DemoEndpoints, service: Service, ctx: ssl.SSLContext) -> bytes:
    reader, writer = await connect(endpoints.ports[service], ctx if service.implicit_tls else None)
    try:
        return await line(reader)
    finally:
        await close(writer)


def test_lab_starts_every_service_and_stops_fast() -> None:
    async def go() -> None:
        started = time.monotonic()
        lab = DemoLab()
        async with lab as endpoints:
            up = time.monotonic() - started
            assert set(endpoints.ports) == set(Service)
            assert len(set(endpoints.ports.values())) == len(Service)
            assert endpoints.host == "127.0.0.1" and endpoints.mx_name == MX
            ctx = ssl.create_default_context(cafile=endpoints.ca_file)
            expected = {"smtp": b"220 ", "pop3": b"+OK ", "imap": b"* OK "}
            for service in Service:
                greeting = await _greeting(endpoints, service, ctx)
                assert greeting.startswith(expected[service.protocol.value]), (service, greeting)
            ca_file = endpoints.ca_file
            stopping = time.monotonic()
        assert up + (time.monotonic() - stopping) < 1.0
        assert not os.path.exists(ca_file)
        assert lab.endpoints is None

    run(go())


def test_lab_dns_zone() -> None:
    async def go() -> None:
        async with DemoLab() as lab:
            domain = lab.domain
            assert await _query(lab, domain, "MX") == [f"10 {MX}."]
            assert await _query(lab, MX, "A") == ["127.0.0.1"]
            assert await _query(lab, domain, "TXT") == ['"v=spf1 mx -all"']
            dmarc = await _query(lab, f"_dmarc.{domain}", "TXT")
            assert dmarc == [f'"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"']
            assert (await _query(lab, f"_smtp._tls.{domain}", "TXT"))[0].startswith('"v=TLSRPTv1;')
            assert await _query(lab, "1.0.0.127.in-addr.arpa", "PTR") == [f"{MX}."]
            for service, label in [
                (Service.SUBMISSION, "_submission._tcp"),
                (Service.SUBMISSIONS, "_submissions._tcp"),
                (Service.IMAP, "_imap._tcp"),
                (Service.IMAPS, "_imaps._tcp"),
                (Service.POP3, "_pop3._tcp"),
                (Service.POP3S, "_pop3s._tcp"),
            ]:
                assert await _query(lab, f"{label}.{domain}", "SRV") == [f"0 1 {lab.ports[service]} {MX}."]
            assert lab.resolver.port == lab.dns_port

    run(go())


@needs_stream_start_tls
def test_lab_smtp_certificate_matches_the_mx_name() -> None:
    async def go() -> None:
        async with DemoLab() as lab:
            stream = await connect(lab.ports[Service.SUBMISSION])
            await smtp_reply(stream[0])
            await smtp(stream, b"EHLO client.test")
            assert (await smtp(stream, b"MAIL FROM:<a@client.test>"))[0].startswith(b"530")
            await smtp(stream, b"STARTTLS")
            await upgrade(stream, ssl.create_default_context(cafile=lab.ca_file))
            await close(stream[1])

    run(go())


def test_lab_on_ipv6_loopback() -> None:
    async def go() -> None:
        async with DemoLab(host="::1") as lab:
            assert await _query(lab, MX, "AAAA") == ["::1"]
            assert await _query(lab, MX, "A") == []
            reverse = dns.reversename.from_address("::1").to_text()
            assert reverse.endswith(".ip6.arpa.")
            assert await _query(lab, reverse, "PTR") == [f"{MX}."]
            reader, writer = await asyncio.open_connection("::1", lab.ports[Service.IMAP])
            assert (await line(reader)).startswith(b"* OK [CAPABILITY IMAP4rev1 STARTTLS")
            await close(writer)

    run(go())
