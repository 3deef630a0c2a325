"""The embedded demo lab: every mail service, a DNS server and a throwaway CA, on loopback, in-process.

    async with DemoLab() as lab:
        lab.ports[Service.SMTP], lab.dns_port, lab.ca_file, ...

The DNS server answers for demo.mailprobe.test (MX, A, SPF, DMARC, TLS-RPT, SRV records carrying the
real ephemeral ports) and for 127.in-addr.arpa (PTR 127.0.0.1 -> the MX), so a whole audit of
demo.mailprobe.test runs against it without touching anything outside this machine.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import TracebackType

import dns.name
import dns.reversename

from mailprobe.config import Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.demo.imap_server import ImapServer
from mailprobe.demo.lineserver import Listener
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.pop3_server import Pop3Server
from mailprobe.demo.smtp_server import DEMO_DOMAIN, DEMO_HOSTNAME, SmtpServer
from mailprobe.model import Service

DEMO_HOST = "127.0.0.1"
# SRV service labels (RFC 6186, RFC 8314) for the services that have one.
_SRV_LABELS = {
    Service.SUBMISSION: "_submission._tcp",
    Service.SUBMISSIONS: "_submissions._tcp",
    Service.POP3: "_pop3._tcp",
    Service.POP3S: "_pop3s._tcp",
    Service.IMAP: "_imap._tcp",
    Service.IMAPS: "_imaps._tcp",
}


@dataclass(frozen=True, slots=True)
class DemoEndpoints:
    host: str
    ports: dict[Service, int]
    dns_port: int
    domain: str
    mx_name: str
    ca_file: str

    @property
    def resolver(self) -> Resolver:
        return Resolver(self.host, self.dns_port)

    def port_overrides(self) -> tuple[tuple[Service, int], ...]:
        """In the shape of Config.ports."""
        return tuple(self.ports.items())


def demo_zone_text(domain: str, mx_name: str, address: str, ports: dict[Service, int]) -> str:
    """The forward zone: MX, A (or AAAA), SPF, DMARC, TLS-RPT and SRV records pointing at the demo ports."""
    rdtype = "AAAA" if ipaddress.ip_address(address).version == 6 else "A"
    srv = "".join(
        f"{label} 300 IN SRV 0 1 {ports[service]} {mx_name}.\n"
        for service, label in _SRV_LABELS.items()
        if service in ports
    )
    return (
        f"$ORIGIN {domain}.\n"
        "$TTL 300\n"
        f"@ IN SOA ns.{domain}. hostmaster.{domain}. 1 3600 600 86400 300\n"
        f"@ IN NS ns.{domain}.\n"
        f"@ IN MX 10 {mx_name}.\n"
        '@ IN TXT "v=spf1 mx -all"\n'
        f"ns IN {rdtype} {address}\n"
        f"{mx_name}. IN {rdtype} {address}\n"
        f'_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"\n'
        f'_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"\n'
        f"{srv}"
    )


def reverse_zone_text(domain: str, mx_name: str, address: str) -> str:
    """The PTR for `address` naming the MX: in 127.in-addr.arpa for 127/8, else a zone of its own name."""
    ip = ipaddress.ip_address(address)
    if not ip.is_loopback:
        raise ValueError(f"the demo lab lives on loopback, not {address}")
    ptr = dns.reversename.from_address(address)
    origin = dns.name.from_text("127.in-addr.arpa.") if ip.version == 4 else ptr
    owner = ptr.relativize(origin).to_text()
    return (
        f"$ORIGIN {origin.to_text()}\n"
        "$TTL 300\n"
        f"@ IN SOA ns.{domain}. hostmaster.{domain}. 1 3600 600 86400 300\n"
        f"@ IN NS ns.{domain}.\n"
        f"{owner} IN PTR {mx_name}.\n"
    )


class DemoLab:
    """Starts the demo services on ephemeral loopback ports; an async context manager.

    The 25 and 587 roles are two STARTTLS servers (587 insists on STARTTLS before MAIL); 465, 995 and
    993 speak TLS from the first byte. Nothing accepts a credential or a message.
    """

    def __init__(
        self,
        *,
        host: str = DEMO_HOST,
        domain: str = DEMO_DOMAIN,
        mx_name: str = DEMO_HOSTNAME,
        open_relay: bool = False,
    ) -> None:
        self.host = host
        self.domain = domain
        self.mx_name = mx_name
        self.open_relay = open_relay
        self.pki: DemoPki | None = None
        self.dns: DnsServer | None = None
        self.servers: dict[Service, Listener] = {}
        self.endpoints: DemoEndpoints | None = None

    def _build(self, pki: DemoPki) -> dict[Service, Listener]:
        ctx = pki.server_context(self.mx_name)
        host, name, domains, relay = self.host, self.mx_name, (self.domain,), self.open_relay

        def smtp(implicit_tls: bool = False, require_starttls: bool = False) -> SmtpServer:
            return SmtpServer(
                ctx,
                implicit_tls=implicit_tls,
                require_starttls=require_starttls,
                hostname=name,
                local_domains=domains,
                open_relay=relay,
                host=host,
            )

        return {
            Service.SMTP: smtp(),
            Service.SUBMISSION: smtp(require_starttls=True),
            Service.SUBMISSIONS: smtp(implicit_tls=True),
            Service.POP3: Pop3Server(ctx, hostname=name, host=host),
            Service.POP3S: Pop3Server(ctx, implicit_tls=True, hostname=name, host=host),
            Service.IMAP: ImapServer(ctx, hostname=name, host=host),
            Service.IMAPS: ImapServer(ctx, implicit_tls=True, hostname=name, host=host),
        }

    async def start(self) -> DemoEndpoints:
        try:
            self.pki = DemoPki.create([self.mx_name])
            self.servers = self._build(self.pki)
            ports = {service: await server.start() for service, server in self.servers.items()}
            zones = [
                demo_zone_text(self.domain, self.mx_name, self.host, ports),
                reverse_zone_text(self.domain, self.mx_name, self.host),
            ]
            self.dns = DnsServer(zones, host=self.host, port=0)
            dns_port = await self.dns.start()
        except BaseException:
            await self.stop()
            raise
        self.endpoints = DemoEndpoints(
            host=self.host,
            ports=ports,
            dns_port=dns_port,
            domain=self.domain,
            mx_name=self.mx_name,
            ca_file=self.pki.ca_pem_path,
        )
        return self.endpoints

    async def stop(self) -> None:
        for server in self.servers.values():
            await server.stop()
        self.servers = {}
        if self.dns is not None:
            await self.dns.stop()
            self.dns = None
        if self.pki is not None:
            self.pki.close()
            self.pki = None
        self.endpoints = None

    async def __aenter__(self) -> DemoEndpoints:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
