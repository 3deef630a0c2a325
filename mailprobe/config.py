"""Run-time settings: limits every session keeps, the resolver, trust anchors. Frozen; built by the CLI.

The session limit: a whole dialogue with one server (connect, greeting, capabilities, STARTTLS, TLS, the
checks after it) ends after Limits.session_timeout, SESSION_FACTOR times the reply timeout (`--timeout`
sets both: `Limits.for_timeout`). A server that answers every read just in time, a byte at a time, holds a
session no longer than that.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mailprobe.model import Expectations, Report, Service
from mailprobe.timeouts import CONNECT_TIMEOUT, READ_TIMEOUT, SESSION_FACTOR, SESSION_TIMEOUT

__all__ = ["SESSION_FACTOR", "Config", "Limits", "Resolver"]


@dataclass(frozen=True, slots=True)
class Limits:
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    session_timeout: float = SESSION_TIMEOUT
    max_line: int = 8 * 1024
    max_reply: int = 64 * 1024
    max_session: int = 256 * 1024
    per_host: int = 8  # sessions per address at once: the 7 services in parallel, each its own daemon
    global_concurrency: int = 256  # sessions at once across the run; each path's window (AIMD) opens up to it
    targets_in_flight: int = 256  # targets admitted at once (DNS runs ahead for them); bounds memory, not speed
    probes_in_flight: int = 2048  # port probes at once across the run, at most (the connect window opens at half)
    probes_per_address: int = 32  # targets' scans of one address at once (each up to 256 of its ports at once)
    raw_rate: float = 10000.0  # SYNs per second in raw mode (--raw), all targets together
    processes: int = 1  # processes the run is spread over (--jobs): see shared_by
    max_block_addresses: int = 65536  # addresses one CIDR block or range may stand for (a /16)

    def shared_by(self, processes: int) -> Limits:
        """One process's limits when `processes` run the run together (--jobs), so that all of them are as gentle
        as one: what bounds the whole run is divided (sessions, probes and targets at once, the raw SYN rate;
        the starting windows follow `processes`); what bounds one session or one address is kept."""
        n = max(1, processes)
        return replace(
            self,
            global_concurrency=max(1, self.global_concurrency // n),
            targets_in_flight=max(1, self.targets_in_flight // n),
            probes_in_flight=max(1, self.probes_in_flight // n),
            raw_rate=self.raw_rate / n,
            processes=n,
        )

    def opening(self, start: int, floor: int) -> int:
        """A window that opens at `start` for a whole run: this process's share of it, at least `floor`."""
        return max(floor, start // max(1, self.processes))

    def for_timeout(self, seconds: float) -> Limits:
        """`--timeout SECONDS`: connects and each reply wait at most `seconds`, a whole dialogue
        SESSION_FACTOR times as long."""
        return replace(self, connect_timeout=seconds, read_timeout=seconds, session_timeout=SESSION_FACTOR * seconds)


@dataclass(frozen=True, slots=True)
class Resolver:
    """A DNS server to ask; None in Config means the system's resolver."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Config:
    limits: Limits = field(default_factory=Limits)
    resolver: Resolver | None = None
    ports: tuple[tuple[Service, int], ...] = ()  # overrides, e.g. ((Service.SMTP, 2525),)
    services: tuple[Service, ...] = tuple(Service)
    ca_file: str | None = None
    ehlo_name: str = "mailprobe.invalid"
    allow_nonpublic: bool = False
    ipv6: bool = True
    ipv4: bool = True
    check_legacy_tls: bool = False  # TLS 1.0/1.1 probes cost two extra sessions per TLS service
    relay_test_domain: str | None = None  # opt-in, intrusive
    transcript: bool = True
    dkim_selectors: tuple[str, ...] = ()
    dnsbl_zones: tuple[str, ...] = ()
    raw: bool = False
    scan_ports: tuple[int, ...] = ()  # `ports --ports LIST`: scan these instead of the services' ports
    servername: str | None = None  # --servername: SNI and the name certificates are judged against
    expect: Expectations | None = None  # a profile's expectations: judged with everything else
    profile: str | None = None  # the profile's name, recorded in each report (profiles.Profile.configure)
    baseline: Report | None = None  # an earlier report: each target's changes since become findings

    def port_for(self, service: Service) -> int:
        for known, port in self.ports:
            if known is service:
                return port
        return service.default_port

    def service_for_port(self, port: int) -> Service | None:
        for known, override in self.ports:
            if override == port:
                return known
        return Service.for_port(port)
