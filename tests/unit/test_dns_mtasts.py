"""MTA-STS end to end on loopback: TXT from the in-process DNS server, the policy from an HTTPS server."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from judging import findings

from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.demo.pki import DemoPki
from mailprobe.dns import resolve_domain
from mailprobe.dns.fetch import tls_context, warm_tls_context
from mailprobe.model import DomainDns, Finding, RecordKind, StsFetch

POLICY_MATCH = "version: STSv1\r\nmode: enforce\r\nmx: mx1.sts.test\r\nmx: *.backup.sts.test\r\nmax_age: 604800\r\n"
POLICY_PARTIAL = "version: STSv1\nmode: testing\nmx: mx1.sts.test\nmax_age: 3600\n"
DOMAINS = ("match", "mismatch", "invalid", "notfound", "redirect", "wrongname", "untrusted", "huge", "silent", "html")

ZONE = "$ORIGIN sts.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\nmx1 A 198.51.100.25\n"
ZONE += "b1.backup A 198.51.100.26\n"
for name in (*DOMAINS, "nodns", "private"):
    ZONE += f"{name} MX 10 mx1.sts.test.\n{name} MX 20 b1.backup.sts.test.\n"
    ZONE += f'_mta-sts.{name} TXT "v=STSv1; id=20240101"\n'
for name in DOMAINS:
    ZONE += f"mta-sts.{name} A 127.0.0.1\n"
ZONE += "mta-sts.private A 10.0.0.80\n"  # never contacted: non-public and not allowed


class PolicyServer:
    """HTTPS on loopback: answers by Host header, presents a certificate per SNI name."""

    def __init__(self, pki: DemoPki) -> None:
        self.pki = pki
        names = [f"mta-sts.{d}.sts.test" for d in DOMAINS]
        self.context = pki.issue_context(*[n for n in names if "wrongname" not in n and "untrusted" not in n])
        self.special = {
            "mta-sts.wrongname.sts.test": pki.wrong_name_context(),
            "mta-sts.untrusted.sts.test": pki.untrusted_context("mta-sts.untrusted.sts.test"),
        }
        self.context.sni_callback = self._sni
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    def _sni(self, sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        if name in self.special:
            sock.context = self.special[name]

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(request)
            host = next(
                line.split(b":", 1)[1].strip().decode()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"host:")
            )
            domain = host.split(".")[1]
            if domain == "silent":
                await reader.read()  # say nothing until the client gives up and closes
                return
            writer.write(self._answer(domain))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    @staticmethod
    def _answer(domain: str) -> bytes:
        status, ctype, body = "200 OK", "text/plain", POLICY_MATCH
        if domain == "mismatch":
            body = POLICY_PARTIAL
        elif domain == "invalid":
            body = "version: STSv1\nmode: sometimes\n"
        elif domain == "notfound":
            status, body = "404 Not Found", "no policy"
        elif domain == "redirect":
            status, body = "301 Moved Permanently", ""
        elif domain == "huge":
            body = POLICY_MATCH + "x: " + "y" * 70_000 + "\n"
        elif domain == "html":
            ctype = "text/html"
        data = body.encode()
        head = f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n"
        return head.encode() + data


@pytest.fixture(scope="module")
def pki() -> Iterator[DemoPki]:
    with DemoPki.create(["mta-sts.match.sts.test"]) as created:
        yield created


def fetch(pki: DemoPki, domain: str, **changes: object) -> tuple[DomainDns, list[bytes]]:
    async def main() -> tuple[DomainDns, list[bytes]]:
        web = PolicyServer(pki)
        port = await web.start()
        try:
            async with DnsServer([("sts.test", ZONE)]) as dns_server:
                cfg = Config(
                    resolver=Resolver("127.0.0.1", dns_server.port),
                    ca_file=pki.ca_pem_path,
                    allow_nonpublic=bool(changes.get("allow_nonpublic", True)),
                    limits=Limits(connect_timeout=1.0, read_timeout=float(str(changes.get("read_timeout", 5.0)))),
                )
                d = await resolve_domain(f"{domain}.sts.test", cfg, mta_sts_port=port)
        finally:
            await web.stop()
        return d, web.requests

    return asyncio.run(main())


def policy(d: DomainDns) -> tuple[str, str, str]:
    record = next(r for r in d.records if r.kind == "MTA-STS-POLICY")
    return record.status, record.detail, record.value


def check_dns(d: DomainDns) -> list[Finding]:
    return findings(dns=(d,))


def sts_codes(d: DomainDns) -> set[str]:
    return {f.code for f in check_dns(d) if f.code.startswith(("MTA-STS", "TLSRPT"))}


def test_policy_matches_every_mx(pki: DemoPki) -> None:
    d, requests = fetch(pki, "match")
    status, detail, value = policy(d)
    assert status == "ok", detail
    assert detail == "mode=enforce max_age=604800 mx=mx1.sts.test,*.backup.sts.test"
    assert value == POLICY_MATCH
    assert requests[0].startswith(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.match.sts.test\r\n")
    assert sts_codes(d) == {"TLSRPT-MISSING"}


def test_policy_that_does_not_cover_an_mx(pki: DemoPki) -> None:
    d, _ = fetch(pki, "mismatch")
    status, detail, _ = policy(d)
    assert status == "ok"
    assert detail.endswith("MX not in policy: b1.backup.sts.test")
    fetched = next(r.parsed for r in d.records if r.kind is RecordKind.MTA_STS_POLICY)
    assert isinstance(fetched, StsFetch) and fetched.unmatched_mx == ("b1.backup.sts.test",)
    found = {f.code: f for f in check_dns(d)}
    assert found["MTA-STS-MX-MISMATCH"].severity.value == "medium"  # testing mode: reported, not enforced
    assert {"MTA-STS-TESTING", "MTA-STS-SHORT-MAX-AGE"} <= set(found)


@pytest.mark.parametrize(
    ("domain", "status", "detail", "code"),
    [
        ("invalid", "invalid", "mode: sometimes is not enforce", "MTA-STS-POLICY-INVALID"),
        ("notfound", "http-error", "HTTP 404 Not Found", "MTA-STS-FETCH-FAILED"),
        ("redirect", "http-error", "HTTP 301", "MTA-STS-FETCH-FAILED"),
        ("wrongname", "tls-error", "certificate not valid for mta-sts.wrongname.sts.test", "MTA-STS-FETCH-FAILED"),
        ("untrusted", "tls-error", "certificate not valid", "MTA-STS-FETCH-FAILED"),
        ("huge", "too-big", "more than 65536 bytes", "MTA-STS-FETCH-FAILED"),
        ("nodns", "dns-error", "mta-sts.nodns.sts.test has no address", "MTA-STS-FETCH-FAILED"),
    ],
)
def test_policy_fetch_failures(pki: DemoPki, domain: str, status: str, detail: str, code: str) -> None:
    d, _ = fetch(pki, domain)
    got_status, got_detail, _ = policy(d)
    assert (got_status, detail in got_detail) == (status, True), got_detail
    assert code in sts_codes(d)


def test_policy_fetch_timeout(pki: DemoPki) -> None:
    d, _ = fetch(pki, "silent", read_timeout=0.5)
    assert policy(d)[0] == "timeout"


def test_non_public_policy_host_is_not_contacted(pki: DemoPki) -> None:
    d, requests = fetch(pki, "private", allow_nonpublic=False)
    status, detail, _ = policy(d)
    assert (status, detail) == ("skipped-nonpublic", "10.0.0.80 is private")
    assert requests == []


def test_wrong_content_type_is_noted(pki: DemoPki) -> None:
    d, _ = fetch(pki, "html")
    status, detail, _ = policy(d)
    assert status == "ok" and "Content-Type is text/html, not text/plain" in detail


def test_tls_context_is_made_once_per_ca_file_as_it_is_on_disk(pki: DemoPki, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(Path(pki.ca_pem_path).read_bytes())
    cfg = Config(ca_file=str(ca))
    first = tls_context(cfg)
    assert tls_context(cfg) is first  # the system store is loaded once, not per domain
    ca.write_bytes(ca.read_bytes() + b"\n")  # the file changed: its certificates are read again
    assert tls_context(cfg) is not first
    missing = Config(ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(OSError):
        tls_context(missing)
    asyncio.run(warm_tls_context(missing))  # warming never raises: the fetch reports a bad CA file
