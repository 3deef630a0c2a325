"""Targets through the real CLI: a port with no registered service is told by its greeting (plaintext or
TLS first), `HOST:PORT/SERVICE` forces one, and localhost and address literals never go to DNS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hostile_server import HostileMode, HostileServer
from threaded import serving
from typer.testing import CliRunner

from mailprobe.cli.app import app
from mailprobe.demo.dns_server import DnsServer
from mailprobe.demo.imap_server import ImapServer
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.pop3_server import Pop3Server
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.errors import UsageError
from mailprobe.model import Protocol, Service
from mailprobe.targets import parse_block, parse_target

runner = CliRunner()
ZONE = """
$TTL 300
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300
@ IN NS ns.example.test.
ns IN A 127.0.0.1
"""
RESOLVER_CHECK = ("udp", ".", "NS")  # the one query a --resolver gets before the run: is it a DNS server?


class SshLike:
    """A TCP server that greets like an SSH daemon: text, but no mail protocol."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
            await writer.drain()
            await reader.read(1024)
            writer.close()

        self.server = await asyncio.start_server(greet, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@dataclass
class Lab:
    ports: dict[str, int]
    dns: DnsServer

    def __getitem__(self, name: str) -> int:
        return self.ports[name]


@pytest.fixture(scope="module")
def servers() -> Iterator[Lab]:
    pki = DemoPki.create(["mx.demo.mailprobe.test"])
    made = {
        "smtp": SmtpServer(pki.server_context()),
        "submissions": SmtpServer(pki.server_context(), implicit_tls=True),
        "pop3": Pop3Server(pki.server_context()),
        "pop3s": Pop3Server(pki.server_context(), implicit_tls=True),
        "imap": ImapServer(pki.server_context()),
        "imaps": ImapServer(pki.server_context(), implicit_tls=True),
        "ssh": SshLike(),
        "silent": HostileServer(HostileMode.SILENT, lifetime=20),
        "dns": DnsServer([("example.test", ZONE)]),
    }
    dns_server = made["dns"]
    assert isinstance(dns_server, DnsServer)
    try:
        with serving(*made.values()) as ports:
            yield Lab(dict(zip(made, ports, strict=True)), dns_server)
    finally:
        pki.close()


def run(*args: str) -> tuple[int, Any, str]:
    result = runner.invoke(app, [*args, "--json", "--timeout", "3"])
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result.exit_code, data, result.stderr


@pytest.mark.parametrize("service", ["smtp", "submissions", "pop3", "pop3s", "imap", "imaps"])
def test_a_port_of_no_registered_service_is_told_by_its_greeting(servers: Lab, service: str) -> None:
    code, data, err = run("handshake", f"127.0.0.1:{servers[service]}")
    assert code in (0, 1), err
    [result] = data["handshakes"]
    assert result["target"]["service"] == service and result["status"] == "success", result["reason"]
    first = result["transcript"][0]
    assert first["direction"] == "NOTE" and first["note"].startswith(f"probed as {service}: ")
    expected_tls = "TLS from the first byte" if service in ("submissions", "pop3s", "imaps") else "(plaintext)"
    assert expected_tls in first["note"]


def test_a_service_named_after_the_port_is_used_as_given(servers: Lab) -> None:
    """`/SERVICE` forces the protocol: SMTP spoken to the POP3 server is a protocol error, not a guess."""
    code, data, _ = run("handshake", f"127.0.0.1:{servers['pop3']}/smtp")
    [result] = data["handshakes"]
    assert result["target"]["service"] == "smtp" and result["status"] == "protocol-error"
    assert not any(e["direction"] == "NOTE" and "probed as" in e["note"] for e in result["transcript"])
    code, data, _ = run("handshake", f"127.0.0.1:{servers['imaps']}/IMAPS")
    assert code in (0, 1)
    assert [h["target"]["service"] for h in data["handshakes"]] == ["imaps"]
    assert data["handshakes"][0]["status"] == "success"


def test_text_that_is_no_mail_protocol_is_one_error_naming_the_fix(servers: Lab) -> None:
    port = servers["ssh"]
    code, data, err = run("handshake", f"127.0.0.1:{port}")
    assert code == 2 and data["handshakes"] == []
    [error] = data["errors"]
    assert error["kind"] == "bad-target" and "SSH-2.0-OpenSSH_9.6" in error["message"]
    assert f"127.0.0.1:{port}/SERVICE" in error["message"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailprobe: error: 127.0.0.1:") and "Traceback" not in err


def test_a_port_that_says_nothing_in_plaintext_or_tls_is_an_error(servers: Lab) -> None:
    code, data, _ = run("handshake", f"127.0.0.1:{servers['silent']}")
    assert code == 2
    [error] = data["errors"]
    assert "no greeting in plaintext" in error["message"] and "no TLS either" in error["message"]


def test_the_audit_of_an_address_port_identifies_it_after_the_scan(servers: Lab) -> None:
    code, data, err = run("audit", f"127.0.0.1:{servers['imaps']}")
    assert code in (0, 1), err
    assert [p["state"] for p in data["ports"]] == ["open"], err
    assert [h["target"]["service"] for h in data["handshakes"]] == ["imaps"]


# --- what never goes to DNS ----------------------------------------------------------------------------------------


@pytest.fixture
def dns_queries(servers: Lab) -> Iterator[list[tuple[str, str, str]]]:
    servers.dns.queries.clear()
    yield servers.dns.queries


@pytest.mark.parametrize(
    "args",
    [
        ["handshake", "localhost:{smtp}/smtp"],
        ["handshake", "127.0.0.1:{smtp}"],
        ["audit", "127.0.0.1:{smtp}"],
        ["audit", "LOCALHOST.:{smtp}"],
        ["ports", "localhost", "--ports", "{smtp}"],
    ],
)
def test_localhost_and_addresses_are_never_looked_up(
    servers: Lab, dns_queries: list[tuple[str, str, str]], args: list[str]
) -> None:
    words = [word.format(**servers.ports) for word in args]
    code, data, err = run(*words, "--resolver", f"127.0.0.1:{servers['dns']}")
    assert code in (0, 1), err
    assert dns_queries == [RESOLVER_CHECK]  # the resolver was checked, and asked nothing about the targets
    addresses = {p["address"] for p in data["ports"]} | {h["target"]["address"] for h in data["handshakes"]}
    assert "127.0.0.1" in addresses and addresses <= {"127.0.0.1", "::1"}


@pytest.mark.parametrize(
    ("target", "says"), [("198.51.100.7", "198.51.100.7 is an address"), ("localhost", "localhost is this machine")]
)
def test_mx_of_an_address_says_it_has_none(
    servers: Lab, dns_queries: list[tuple[str, str, str]], target: str, says: str
) -> None:
    code, data, err = run("mx", target, "--resolver", f"127.0.0.1:{servers['dns']}")
    assert code == 2 and dns_queries == [RESOLVER_CHECK]
    assert [e["kind"] for e in data["errors"]] == ["bad-target"]
    assert f"{says}: it has no MX; give a mail domain" in data["errors"][0]["message"]
    assert f"{says}: it has no MX" in err


@pytest.mark.parametrize("target", ["198.51.100.300", "198.51", "198.51.100.7.5:25", "198.51.100.256."])
def test_a_mistyped_address_is_a_bad_target_never_a_name_to_look_up(
    servers: Lab, dns_queries: list[tuple[str, str, str]], target: str
) -> None:
    code, data, err = run("ports", target, "--resolver", f"127.0.0.1:{servers['dns']}")
    assert code == 2 and dns_queries == []  # no target needs DNS: not even the resolver is checked
    assert [e["kind"] for e in data["errors"]] == ["bad-target"]
    assert "not an IP address, and a host name's last label is never all digits" in data["errors"][0]["message"]
    assert data["ports"] == [] and "Traceback" not in err


# --- the target forms ----------------------------------------------------------------------------------------------


def test_target_forms_with_a_service() -> None:
    spec = parse_target("mx.example.org:2525/submission")
    assert (spec.host, spec.port, spec.service) == ("mx.example.org", 2525, Service.SUBMISSION)
    spec = parse_target("[2001:db8::1]:10993/imaps")
    assert (spec.host, spec.port, spec.service, spec.addresses) == (
        "2001:db8::1",
        10993,
        Service.IMAPS,
        ("2001:db8::1",),
    )
    spec = parse_target("198.51.100.7/pop3s")
    assert (spec.port, spec.service) == (None, Service.POP3S)
    assert parse_target("Mail.LOCALHOST").addresses == ("127.0.0.1", "::1")
    assert parse_target("localhost.example.org").addresses == ()
    assert parse_target("198.51.100.7.example.org").host == "198.51.100.7.example.org"  # digits, but not the last label
    block = parse_block("198.51.100.0/31:2525/smtp")
    assert block is not None and list(block.targets()) == ["198.51.100.0:2525/smtp", "198.51.100.1:2525/smtp"]
    for bad, message in (("example.org/gopher", "unknown service 'gopher'"), ("/smtp", "no host before /smtp")):
        with pytest.raises(UsageError, match=message):
            parse_target(bad)


def test_the_protocols_of_the_demo_servers_are_what_the_services_say() -> None:
    """The table the identification maps greetings through agrees with the service registry."""
    from mailprobe.probes.identify import _IMPLICIT, _PLAIN

    for protocol in Protocol:
        assert _PLAIN[protocol].protocol is protocol and not _PLAIN[protocol].implicit_tls
        assert _IMPLICIT[protocol].protocol is protocol and _IMPLICIT[protocol].implicit_tls
