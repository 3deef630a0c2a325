"""One DNS lookup with a deadline, against the resolver the user chose: UDP, TCP when truncated, CNAMEs chased.

dns.asyncquery directly (not dns.asyncresolver) so every outcome stays distinct: NXDOMAIN, NODATA, SERVFAIL,
REFUSED, timeout, a reply that is not DNS, a CNAME loop. The same code works against a recursive resolver (the
whole chain in one answer) and an authoritative server (a CNAME leaving its zone is asked for again).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import weakref
from dataclasses import dataclass, field
from typing import NamedTuple

import dns._asyncbackend
import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver
import dns.rrset

from mailprobe.config import Config, Resolver
from mailprobe.dns.pacing import Pacer, pacer_for_share
from mailprobe.errors import ResolverError
from mailprobe.model import DnsOutcome
from mailprobe.net import guard
from mailprobe.shared_work import SharedWork

MAX_CNAME_HOPS = 8
EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation
MAX_IN_FLIGHT = 64


Outcome = DnsOutcome  # the DNS stage's name for it


@dataclass(frozen=True, slots=True)
class Answer:
    name: str  # as asked, normalised
    rdtype: str
    outcome: Outcome
    records: tuple[dns.rdata.Rdata, ...] = ()  # of the asked type, at the end of any CNAME chain
    cnames: tuple[tuple[str, str], ...] = ()  # (owner, target) in chain order
    authenticated: bool = False  # every response in the chain carried AD
    elapsed_ms: float = 0.0
    reason: str = ""
    used_tcp: bool = False
    refused: bool = False  # the resolver's host refused the UDP query (ICMP port unreachable): nothing there
    # A/AAAA the server volunteered in the additional section, as (owner, address). Only ever a hint for
    # what to ask next (RFC 2181 5.4.1 ranks it below answer data): nothing in the picture comes from it.
    extra_addresses: tuple[tuple[str, str], ...] = ()

    @property
    def final_name(self) -> str:
        return self.cnames[-1][1] if self.cnames else self.name

    def texts(self) -> tuple[str, ...]:
        """TXT records as strings (the character-strings of each record joined, RFC 7208 3.3)."""
        out = []
        for rdata in self.records:
            strings = getattr(rdata, "strings", ())
            out.append(b"".join(strings).decode("utf-8", "backslashreplace"))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class QueryTime:
    name: str
    rdtype: str
    elapsed_ms: float
    outcome: str
    started: float = 0.0  # time.perf_counter() when sent: the bench lines queries up on one time axis


def system_resolver() -> Resolver:
    """The first nameserver of /etc/resolv.conf (read, never queried here)."""
    try:
        nameservers = dns.resolver.Resolver(configure=True).nameservers
    except dns.exception.DNSException as exc:
        raise ResolverError(f"no system resolver configured: {exc}") from None
    for server in nameservers:
        if isinstance(server, str):
            return Resolver(server)
    raise ResolverError("no system resolver configured (no nameserver in /etc/resolv.conf)")


@dataclass
class DnsClient:
    """Asks one resolver; counts every query it sends (for the bench and the tests).

    A question is asked once per client (single flight): a second asker of the same name and type waits for
    the first answer. That lets the resolve stage `prefetch` what it will probably need next, so a lookup
    that later turns out to be needed finds its answer already on the way. A definite answer (DEFINITE) also
    serves the later lookups of the run, through any client of the same resolver: domains hosted together
    share their MX hosts' addresses, PTR and TLSA records.
    """

    resolver: Resolver
    timeout: float  # deadline of one lookup (all attempts and CNAME hops together)
    processes: int = 1  # the run's processes (--jobs): each paces its share of the questions (dns/pacing.py)
    log: list[QueryTime] = field(default_factory=list)
    _limit: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_IN_FLIGHT))
    _flights: dict[tuple[str, str], asyncio.Future[Answer]] = field(default_factory=dict)
    _claimed: set[tuple[str, str]] = field(default_factory=set)  # questions a query() asked, not only prefetched

    @classmethod
    def from_config(cls, cfg: Config) -> DnsClient:
        resolver = cfg.resolver or system_resolver()
        guard.check(resolver.address)
        return cls(resolver=resolver, timeout=cfg.limits.connect_timeout, processes=cfg.limits.processes)

    async def query(self, name: str, rdtype: str) -> Answer:
        """Ask (or join the same question already asked), chase CNAMEs, classify.

        Never raises for DNS or network trouble. Shielded: one cancelled asker does not cancel the others.
        """
        key = _key(name, rdtype)
        self._claimed.add(key)  # settle() leaves it alone from now on
        return await asyncio.shield(self._flight(key, name, rdtype))

    async def ask_now(self, name: str, rdtype: str) -> Answer:
        """Ask the resolver itself, whatever the run already knows (the check that it answers at all)."""
        return await self._ask(name, rdtype)

    def prefetch(self, name: str, rdtype: str) -> None:
        """Start asking now; a later query() of the same question takes this answer."""
        self._flight(_key(name, rdtype), name, rdtype)

    async def settle(self) -> None:
        """Cancel the prefetches nobody asked for and wait for them: no task outlives the lookup.

        Questions someone asked are left running, so lookups sharing this client are not disturbed; a
        cancelled prefetch asked for later is simply asked again.
        """
        unclaimed = {key: task for key, task in self._flights.items() if key not in self._claimed and not task.done()}
        for key, task in unclaimed.items():
            del self._flights[key]
            task.cancel()
        await asyncio.gather(*unclaimed.values(), return_exceptions=True)

    def _flight(self, key: tuple[str, str], name: str, rdtype: str) -> asyncio.Future[Answer]:
        task = self._flights.get(key)
        if task is None:
            known = resolver_run(self.resolver, self.processes).answers.get(key)
            task = known or asyncio.get_running_loop().create_task(self._ask_and_keep(key, name, rdtype))
            self._flights[key] = task
        return task

    async def _ask_and_keep(self, key: tuple[str, str], name: str, rdtype: str) -> Answer:
        """_ask, and a definite answer kept for the other lookups of the run (shared MX hosts' addresses,
        TLSA and PTR records are asked by every domain they serve)."""
        answer = await self._ask(name, rdtype)
        if answer.outcome in DEFINITE:
            kept: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
            kept.set_result(answer)
            resolver_run(self.resolver, self.processes).answers.put(key, kept)
        return answer

    async def _ask(self, name: str, rdtype: str) -> Answer:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.from_text(rdtype)
        cnames: list[tuple[str, str]] = []
        authenticated = True
        used_tcp = False
        current = qname

        extra: tuple[tuple[str, str], ...] = ()

        def done(
            outcome: Outcome, reason: str = "", records: tuple[dns.rdata.Rdata, ...] = (), refused: bool = False
        ) -> Answer:
            elapsed = (loop.time() - started) * 1000
            return Answer(
                name=_text(qname),
                rdtype=rdtype.upper(),
                outcome=outcome,
                records=records,
                cnames=tuple(cnames),
                authenticated=authenticated and outcome is not Outcome.TIMEOUT,
                elapsed_ms=elapsed,
                reason=reason,
                used_tcp=used_tcp,
                refused=refused,
                extra_addresses=extra if outcome is Outcome.OK else (),
            )

        for _hop in range(MAX_CNAME_HOPS + 1):
            asked = current
            response, failure, tcp = await self._exchange(asked, qtype, deadline)
            used_tcp = used_tcp or tcp
            if response is None:
                return done(failure.outcome, failure.reason, refused=failure.refused)
            authenticated = authenticated and bool(response.flags & dns.flags.AD)
            extra = _extra_addresses(response)
            rcode = response.rcode()
            # Walk the chain inside this response first (a recursive resolver sends it whole).
            while True:
                found = _find(response, current, qtype)
                if found is not None:
                    return done(Outcome.OK, records=tuple(found))
                cname = _find(response, current, dns.rdatatype.CNAME)
                if cname is None or qtype == dns.rdatatype.CNAME:
                    break
                target = cname[0].target
                cnames.append((_text(current), _text(target)))
                if target == qname or any(_text(target) == owner for owner, _ in cnames):
                    return done(Outcome.CNAME_LOOP, f"CNAME loop at {_text(target)}")
                if len(cnames) > MAX_CNAME_HOPS:
                    return done(Outcome.CNAME_LOOP, f"more than {MAX_CNAME_HOPS} CNAMEs")
                current = target
            if rcode == dns.rcode.NXDOMAIN:
                return done(Outcome.NXDOMAIN, f"{_text(current)} does not exist")
            if rcode == dns.rcode.SERVFAIL:
                return done(Outcome.SERVFAIL, "SERVFAIL")
            if rcode == dns.rcode.REFUSED:
                return done(Outcome.REFUSED, "REFUSED")
            if rcode != dns.rcode.NOERROR:
                return done(Outcome.ERROR, dns.rcode.to_text(rcode))
            referral = _referral(response, current)
            if referral is not None:  # an authoritative server pointing elsewhere: not "no data"
                return done(
                    Outcome.REFERRAL,
                    f"{self.resolver} referred {_text(current)} to {referral} (not a recursive resolver)",
                )
            if current == asked or _soa_covers(response, current):
                return done(Outcome.NODATA, f"no {rdtype.upper()} record at {_text(current)}")
            # The chain left the answering server's zone (an authoritative server stops there): ask again.
        return done(Outcome.CNAME_LOOP, f"more than {MAX_CNAME_HOPS} CNAMEs")

    async def _exchange(
        self, name: dns.name.Name, qtype: dns.rdatatype.RdataType, deadline: float
    ) -> tuple[dns.message.Message | None, _Failure, bool]:
        """One question (see _ask_resolver); a failure says what went wrong, as data."""
        where = self.resolver.address
        guard.check(where)
        query = dns.message.make_query(name, qtype, use_edns=0, payload=EDNS_PAYLOAD)
        query.flags |= dns.flags.AD  # ask for the AD bit (RFC 6840 5.7)
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = time.perf_counter()
        text = f"{_text(name)}/{dns.rdatatype.to_text(qtype)}"
        tcp = False
        failure = _Failure(Outcome.TIMEOUT, f"no answer from {self.resolver} within {self.timeout:g}s")
        response: dns.message.Message | None = None
        async with self._limit:
            try:
                response, tcp = await self._ask_resolver(query, deadline)
            except dns.exception.Timeout:
                response = None
            except (dns.message.ShortHeader, dns.message.TrailingJunk, dns.exception.FormError) as exc:
                response = None
                failure = _Failure(Outcome.ERROR, f"{self.resolver} replied with something that is not DNS ({exc})")
            except dns.query.BadResponse:
                response, failure = None, _Failure(Outcome.ERROR, f"{self.resolver} answered a different question")
            except _TcpRefused:
                response, tcp = None, True  # a server answered over UDP (truncated) but takes no TCP
                failure = _Failure(Outcome.ERROR, f"{self.resolver} refused TCP for a truncated answer")
            except ConnectionRefusedError:  # over UDP: the ICMP "port unreachable" of a host with no server
                reason = f"connection refused by {self.resolver} (no DNS server there)"
                response, failure = None, _Failure(Outcome.ERROR, reason, refused=True)
            except (OSError, EOFError, dns.exception.DNSException) as exc:
                response, failure = None, _Failure(Outcome.ERROR, f"{self.resolver}: {exc or type(exc).__name__}")
        elapsed = (loop.time() - started) * 1000
        status = dns.rcode.to_text(response.rcode()) if response is not None else failure.outcome.value
        self.log.append(QueryTime(text, dns.rdatatype.to_text(qtype), elapsed, status, sent))
        return response, failure, tcp

    async def _ask_resolver(
        self, query: dns.message.Message, deadline: float
    ) -> tuple[dns.message.Message | None, bool]:
        """(the response, or None when the deadline passed; whether it came over TCP).

        UDP on a connected socket (a host with no DNS server answers ICMP "port unreachable": refused at
        once) at the run's pace for this resolver (dns/pacing.py). A try that goes unanswered is asked again
        over TCP, which a rate-limiting resolver does not limit (RFC 7766; its truncated "slips" say as
        much), then by UDP and TCP in turn, each try waiting twice as long, until the deadline. A truncated
        UDP answer is asked again over TCP. A resolver that takes no TCP is asked over UDP only.
        """
        where, port = self.resolver.address, self.resolver.port
        loop = asyncio.get_running_loop()
        pacer = resolver_run(self.resolver, self.processes).pacer
        over_tcp = no_tcp = False
        async with await _connected_udp(where, port) as sock:
            for attempt in itertools.count():
                if not over_tcp:
                    deadline += await pacer.turn()  # our own queue is not the resolver's slowness
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None, False
                wait = min(remaining, pacer.try_timeout(attempt))
                if over_tcp:
                    over_tcp = False
                    try:
                        return await dns.asyncquery.tcp(query, where, timeout=wait, port=port), True
                    except dns.exception.Timeout:
                        continue
                    except (EOFError, ConnectionError):  # refused, reset or closed: UDP only from now on
                        no_tcp = True
                        continue
                sent_at = loop.time()
                try:
                    response = await dns.asyncquery.udp(query, where, timeout=wait, port=port, sock=sock)
                except dns.exception.Timeout:
                    pacer.unanswered()
                    over_tcp = not no_tcp
                    continue
                pacer.answered(loop.time() - sent_at)
                if not response.flags & dns.flags.TC:
                    return response, False
                pacer.truncated()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None, True
                try:
                    return await dns.asyncquery.tcp(query, where, timeout=remaining, port=port), True
                except ConnectionRefusedError:
                    raise _TcpRefused from None
                except (EOFError, ConnectionError):
                    if no_tcp:
                        raise
                    no_tcp = True  # closed without an answer (a busy server): UDP once more, if time is left
        return None, False  # pragma: no cover - the loop above only returns


class _TcpRefused(Exception):
    """The resolver answered over UDP (truncated) and refused the TCP connection for the whole answer."""


async def _connected_udp(where: str, port: int) -> dns._asyncbackend.DatagramSocket:
    backend = dns.asyncbackend.get_backend("asyncio")
    family = dns.inet.af_for_address(where)
    # dnspython leaves make_socket unannotated; it returns a DatagramSocket for SOCK_DGRAM.
    sock: dns._asyncbackend.DatagramSocket = await backend.make_socket(  # type: ignore[no-untyped-call]
        family, socket.SOCK_DGRAM, 0, None, (where, port)
    )
    return sock


class _Failure(NamedTuple):
    """Why a question got no usable response."""

    outcome: Outcome
    reason: str
    refused: bool = False


def _find(
    response: dns.message.Message, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == rdtype and len(rrset) > 0:
            return rrset
    return None


# Answers that hold for the whole run: the name or its data exists or does not, the server will not answer
# it (REFUSED) or points elsewhere. A timeout, an error or a SERVFAIL may pass: the next lookup asks again.
DEFINITE = frozenset(
    {Outcome.OK, Outcome.NXDOMAIN, Outcome.NODATA, Outcome.CNAME_LOOP, Outcome.REFERRAL, Outcome.REFUSED}
)
RUN_ANSWERS, RUN_ANSWER_AGE = 4096, 300.0  # definite answers kept per resolver for a run, and for how long


@dataclass(slots=True)
class ResolverRun:
    """What one run (one event loop: a run, or one --jobs process) keeps per resolver, for all its lookups:
    the pace of its questions (dns/pacing.py) and the definite answers it got."""

    pacer: Pacer
    answers: SharedWork[tuple[str, str], Answer]


_RUNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Resolver, ResolverRun]]
_RUNS = weakref.WeakKeyDictionary()


def resolver_run(resolver: Resolver, processes: int = 1) -> ResolverRun:
    per_loop = _RUNS.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(resolver)
    if found is None:
        found = per_loop[resolver] = ResolverRun(pacer_for_share(processes), SharedWork(RUN_ANSWERS, RUN_ANSWER_AGE))
    return found


def _key(name: str, rdtype: str) -> tuple[str, str]:
    return name.rstrip(".").lower(), rdtype.upper()


def _extra_addresses(response: dns.message.Message) -> tuple[tuple[str, str], ...]:
    return tuple(
        (_text(rrset.name), rdata.to_text())
        for rrset in response.additional
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
        for rdata in rrset
    )


def _referral(response: dns.message.Message, name: dns.name.Name) -> str | None:
    """The delegated zone when this is a referral (no AA, no SOA, NS records for an ancestor of `name`)."""
    if response.flags & dns.flags.AA or any(r.rdtype == dns.rdatatype.SOA for r in response.authority):
        return None
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.NS and name.is_subdomain(rrset.name):
            return _text(rrset.name)
    return None


def _soa_covers(response: dns.message.Message, name: dns.name.Name) -> bool:
    """Did this response speak for `name`'s zone (a negative answer carries that zone's SOA)?"""
    return any(rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name) for rrset in response.authority)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()
