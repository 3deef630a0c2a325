"""The DNS stage: the whole picture of a mail domain, every lookup concurrent, each with its own deadline.

Independent chains run side by side (MX → addresses → PTR → forward check; SPF → includes; MTA-STS TXT →
policy fetch; SRV; DMARC; TLS-RPT; DKIM: policy.py), so the wall time is the longest chain, not the sum of
the queries; what the next level will probably need is prefetched (see _prefetch_mx_hosts).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import dns.rdata
import dns.reversename

from mailprobe.config import Config
from mailprobe.dns import policy
from mailprobe.dns.client import Answer, DnsClient, Outcome
from mailprobe.dns.names import looks_like_ip_literal, nonpublic_reason, normal_name, validate_domain
from mailprobe.errors import ResolverError
from mailprobe.model import (
    DnsblListing,
    DnsRecord,
    DomainDns,
    MxHost,
    MxHostStatus,
    MxStatus,
    RecordKind,
    RecordStatus,
    SrvTarget,
)
from mailprobe.net import guard
from mailprobe.records.tlsa import parse_tlsa

AddressesKnown = Callable[[MxStatus, tuple[MxHost, ...]], None]
_OUTCOME_STATUS = {
    Outcome.NXDOMAIN: MxStatus.NXDOMAIN,
    Outcome.NODATA: MxStatus.NODATA,
    Outcome.SERVFAIL: MxStatus.SERVFAIL,
    Outcome.REFUSED: MxStatus.REFUSED,
    Outcome.TIMEOUT: MxStatus.TIMEOUT,
    Outcome.CNAME_LOOP: MxStatus.ERROR,
    Outcome.REFERRAL: MxStatus.ERROR,
    Outcome.ERROR: MxStatus.ERROR,
}
_HOST_FAILURE = {
    Outcome.SERVFAIL: MxHostStatus.SERVFAIL,
    Outcome.REFUSED: MxHostStatus.REFUSED,
    Outcome.TIMEOUT: MxHostStatus.TIMEOUT,
    Outcome.REFERRAL: MxHostStatus.REFERRAL,
    Outcome.ERROR: MxHostStatus.ERROR,
    Outcome.CNAME_LOOP: MxHostStatus.CNAME_LOOP,
}


@dataclass
class _Picture:
    """What the MX chain found; turned into DomainDns at the end."""

    status: MxStatus = MxStatus.ERROR
    reason: str = ""
    hosts: list[MxHost] = field(default_factory=list)
    records: list[DnsRecord] = field(default_factory=list)
    authenticated: bool | None = None
    alias_of: str | None = None
    null_mx_mixed: bool = False
    duplicate_mx: list[str] = field(default_factory=list)


# --- public API ------------------------------------------------------------------------------------------


async def resolve_domain(
    domain: str,
    cfg: Config,
    *,
    client: DnsClient | None = None,
    mta_sts_port: int = 443,
    on_addresses: AddressesKnown | None = None,
) -> DomainDns:
    """Everything a mail domain's DNS says. Failures are statuses in the result, never exceptions.

    Raises UsageError for a malformed domain and UnsafeTargetError for a resolver outside the guard.
    `client` lets a caller read the query log (the bench); `mta_sts_port` serves tests and labs.
    `on_addresses` is called once the MX hosts and their addresses are known, before reverse DNS, TLSA,
    blocklists and policies finish, so the engine can start probing while the rest of the picture arrives.
    """
    name = validate_domain(domain)
    client = client or DnsClient.from_config(cfg)
    started = time.perf_counter()
    try:
        picture, (spf_records, dmarc_records, sts, tlsrpt, srv, dkim_records) = await asyncio.gather(
            _mx_picture(client, name, cfg, on_addresses),
            asyncio.gather(
                policy.spf(client, name),
                policy.dmarc(client, name),
                policy.mta_sts(client, name, cfg, mta_sts_port),
                policy.tls_rpt(client, name),
                policy.srv(client, name),
                policy.dkim(client, name, cfg.dkim_selectors),
            ),
        )
    finally:
        await client.settle()
    sts = policy.match_sts(sts, [host.name for host in picture.hosts])
    records = (*spf_records, *dmarc_records, *sts, *tlsrpt, *srv, *dkim_records, *picture.records)
    return DomainDns(
        domain=name,
        status=picture.status,
        reason=picture.reason,
        elapsed_ms=(time.perf_counter() - started) * 1000,
        mx=tuple(picture.hosts),
        records=records,
        authenticated=picture.authenticated,
        alias_of=picture.alias_of,
        null_mx_mixed=picture.null_mx_mixed,
        duplicate_mx=tuple(picture.duplicate_mx),
    )


async def resolve_host(name: str, cfg: Config, *, client: DnsClient | None = None) -> tuple[str, ...]:
    """A and AAAA of a host name (as cfg.ipv4/ipv6 allow); an address is returned as it is; () when none."""
    try:
        return (str(ipaddress.ip_address(name.strip("[]"))),)
    except ValueError:
        pass
    host = validate_domain(name)
    client = client or DnsClient.from_config(cfg)
    families = [t for t, on in (("A", cfg.ipv4), ("AAAA", cfg.ipv6)) if on]
    answers = await asyncio.gather(*(client.query(host, t) for t in families))
    return tuple(rdata.to_text() for answer in answers for rdata in answer.records)


async def check_resolver(cfg: Config) -> None:
    """Raise ResolverError (one line) unless the chosen resolver answers DNS; any rcode counts as DNS."""
    client = DnsClient.from_config(cfg)
    answer = await client.ask_now(".", "NS")
    if answer.refused:
        raise ResolverError(f"resolver {client.resolver}: nothing listening there (connection refused)")
    if answer.outcome is Outcome.TIMEOUT:
        if await _tcp_refused(client):
            raise ResolverError(f"resolver {client.resolver}: nothing listening there (connection refused)")
        raise ResolverError(
            f"resolver {client.resolver} did not answer within {client.timeout:g}s (unreachable or not a DNS server)"
        )
    if answer.outcome is Outcome.ERROR:
        raise ResolverError(f"resolver {client.resolver} is not usable: {answer.reason}")


def srv_targets(d: DomainDns) -> list[SrvTarget]:
    """Every usable SRV record's target, best priority first, for the handshake stage."""
    found = [r.parsed for r in d.records_of(RecordKind.SRV) if r.status is RecordStatus.OK]
    targets = [t for t in found if isinstance(t, SrvTarget)]
    return sorted(targets, key=lambda t: (t.priority, -t.weight))


def probe_addresses(host: MxHost, cfg: Config) -> tuple[str, ...]:
    """The addresses of an MX host the engine may probe: the families asked for, public unless allowed."""
    out = []
    for address in host.addresses:
        version = ipaddress.ip_address(address).version
        if (version == 4 and not cfg.ipv4) or (version == 6 and not cfg.ipv6):
            continue
        if nonpublic_reason(address) and not cfg.allow_nonpublic:
            continue
        out.append(address)
    return tuple(out)


def mx_groups(d: DomainDns) -> list[tuple[int, tuple[MxHost, ...]]]:
    """MX hosts grouped by preference, lowest (tried first) first; hosts in a group are tried in random order."""
    groups: dict[int, list[MxHost]] = {}
    for host in d.mx:
        groups.setdefault(host.preference, []).append(host)
    return [(pref, tuple(hosts)) for pref, hosts in sorted(groups.items())]


# --- MX and everything hanging off it ---------------------------------------------------------------------


async def _mx_picture(client: DnsClient, domain: str, cfg: Config, on_addresses: AddressesKnown | None) -> _Picture:
    # A/AAAA asked at once: they are needed if MX says NODATA (implicit MX) and it saves a round trip.
    mx, a, aaaa = await asyncio.gather(
        client.query(domain, "MX"), client.query(domain, "A"), client.query(domain, "AAAA")
    )
    picture = _Picture(authenticated=mx.authenticated if not mx.outcome.is_failure else None)
    if mx.cnames:
        picture.alias_of = mx.final_name
    if mx.outcome is Outcome.NODATA:
        return await _implicit(client, domain, cfg, picture, a, aaaa, on_addresses)
    if mx.outcome is not Outcome.OK:
        picture.status = _OUTCOME_STATUS[mx.outcome]
        picture.reason = mx.reason or mx.outcome.value
        return picture
    entries = sorted((int(r.preference), normal_name(r.exchange.to_text())) for r in mx.records)  # type: ignore[attr-defined]
    null = [e for e in entries if e[1] == ""]
    real = [e for e in entries if e[1] != ""]
    if null and not real:
        picture.status = MxStatus.NULL
        picture.reason = "null MX (RFC 7505): the domain accepts no mail"
        return picture
    picture.null_mx_mixed = bool(null)
    chosen: dict[str, int] = {}
    for preference, name in real:
        if name in chosen:
            picture.duplicate_mx.append(name)
            continue
        chosen[name] = preference
    _prefetch_mx_hosts(client, chosen, mx.extra_addresses, cfg)
    addressed: dict[str, MxHost] = {}

    async def pipeline(name: str, preference: int) -> tuple[MxHost, list[DnsRecord]]:
        # Each host goes on to its details as soon as its own addresses are in; the engine hears once all are.
        addressed[name] = await _mx_addresses(client, preference, name)
        if len(addressed) == len(chosen) and on_addresses is not None:
            on_addresses(MxStatus.FOUND, tuple(addressed[n] for n in chosen))
        return await _host_details(client, addressed[name], cfg)

    results = await asyncio.gather(*(pipeline(name, pref) for name, pref in chosen.items()))
    for host, records in results:
        picture.hosts.append(host)
        picture.records.extend(records)
    picture.hosts.sort(key=lambda h: (h.preference, h.name))
    picture.status = MxStatus.FOUND
    groups = len({h.preference for h in picture.hosts})
    picture.reason = f"{len(picture.hosts)} MX host(s) in {groups} preference group(s)"
    return picture


def _prefetch_mx_hosts(
    client: DnsClient, hosts: dict[str, int], volunteered: tuple[tuple[str, str], ...], cfg: Config
) -> None:
    """Ask now what the next level will need: each host's addresses and TLSA, and, for addresses the MX
    answer volunteered in its additional section, their PTR and blocklist entries. The A/AAAA answers still
    decide which addresses are in the picture; a prefetch they do not confirm is cancelled unused.
    Saves a round trip when the data is there (authoritative servers add in-zone addresses; resolvers vary)."""
    for name in hosts:  # the addresses first: the rest of the picture waits for them
        client.prefetch(name, "A")
        client.prefetch(name, "AAAA")
    for name in hosts:
        if not looks_like_ip_literal(name):
            client.prefetch(_tlsa_name(name), "TLSA")
    for owner, address in volunteered:
        if owner in hosts:
            client.prefetch(_ptr_name(address), "PTR")
            for zone in cfg.dnsbl_zones:
                client.prefetch(_dnsbl_name(address, zone), "A")
                client.prefetch(_dnsbl_name(address, zone), "TXT")


async def _implicit(
    client: DnsClient,
    domain: str,
    cfg: Config,
    picture: _Picture,
    a: Answer,
    aaaa: Answer,
    on_addresses: AddressesKnown | None,
) -> _Picture:
    addresses = _addresses(a, aaaa)
    if addresses:
        picture.status = MxStatus.IMPLICIT
        picture.reason = "no MX record: mail goes to the domain's own address (RFC 5321 5.1)"
        implicit = MxHost(preference=0, name=domain, addresses=addresses)
        if on_addresses is not None:
            on_addresses(MxStatus.IMPLICIT, (implicit,))
        host, records = await _host_details(client, implicit, cfg)
        picture.hosts.append(host)
        picture.records.extend(records)
        return picture
    failed = [x for x in (a, aaaa) if x.outcome.is_failure]
    if failed:  # MX said NODATA but the address lookup failed: say so, do not call it "no mail"
        picture.status = _OUTCOME_STATUS[failed[0].outcome]
        picture.reason = f"no MX record, and the address lookup failed: {failed[0].reason}"
    else:
        picture.status = MxStatus.NODATA
        picture.reason = "no MX and no A/AAAA record: the domain cannot receive mail"
    return picture


async def _mx_addresses(client: DnsClient, preference: int, name: str) -> MxHost:
    """An MX host with its addresses and status; reverse DNS and the rest come in _host_details."""
    a, aaaa = await asyncio.gather(client.query(name, "A"), client.query(name, "AAAA"))
    addresses = _addresses(a, aaaa)
    cname_target = next((x.final_name for x in (a, aaaa) if x.cnames), None)
    status = MxHostStatus.OK
    if looks_like_ip_literal(name):
        status = MxHostStatus.IP_LITERAL
    elif Outcome.CNAME_LOOP in (a.outcome, aaaa.outcome) and not addresses:
        status = MxHostStatus.CNAME_LOOP
    elif not addresses:
        failed = [_HOST_FAILURE[x.outcome] for x in (a, aaaa) if x.outcome.is_failure]
        status = failed[0] if failed else MxHostStatus.DANGLING
    elif cname_target is not None:
        status = MxHostStatus.CNAME
    elif all(nonpublic_reason(addr) for addr in addresses):
        status = MxHostStatus.NONPUBLIC  # per-address judgement stays with the addresses (see probe_addresses)
    return MxHost(preference, name, addresses, status, cname_target)


async def _host_details(client: DnsClient, host: MxHost, cfg: Config) -> tuple[MxHost, list[DnsRecord]]:
    """PTR + forward confirmation and blocklists per address, TLSA of the host: all at once."""
    name, addresses = host.name, host.addresses
    want_tlsa = bool(addresses) and host.status is not MxHostStatus.IP_LITERAL
    reverse, listings, tlsa = await asyncio.gather(
        asyncio.gather(*(_reverse(client, address, {name: addresses}) for address in addresses)),
        asyncio.gather(*(_dnsbl(client, address, zone) for address in addresses for zone in cfg.dnsbl_zones)),
        _tlsa(client, name) if want_tlsa else _nothing(),
    )
    ptr: list[tuple[str, str]] = []
    fcrdns: list[tuple[str, bool]] = []
    failures: list[tuple[str, str]] = []
    for address, (names, confirmed, failure) in zip(addresses, reverse, strict=True):
        if failure:
            failures.append((address, failure))
            continue
        if not names:
            ptr.append((address, ""))
            continue
        ptr.extend((address, ptr_name) for ptr_name in names)
        fcrdns.append((address, confirmed))
    details = replace(host, ptr=tuple(ptr), fcrdns=tuple(fcrdns), ptr_errors=tuple(failures))
    return details, [*tlsa, *listings]


async def _nothing() -> list[DnsRecord]:
    return []


def _addresses(*answers: Answer) -> tuple[str, ...]:
    return tuple(rdata.to_text() for answer in answers if answer.outcome is Outcome.OK for rdata in answer.records)


async def _reverse(
    client: DnsClient, address: str, known: dict[str, tuple[str, ...]]
) -> tuple[tuple[str, ...], bool, str]:
    """(PTR names, forward-confirmed, failure outcome or "").

    `known` holds forward answers already in hand (the MX host's own addresses): when the PTR names the MX
    host, as it does on a well-run server, the forward check needs no further query (one round trip saved).
    """
    answer = await client.query(_ptr_name(address), "PTR")
    if answer.outcome.is_negative:
        return (), False, ""
    if answer.outcome is not Outcome.OK:
        return (), False, answer.outcome.value
    names = tuple(sorted(normal_name(r.target.to_text()) for r in answer.records))  # type: ignore[attr-defined]
    wanted = ipaddress.ip_address(address)
    if any(wanted in {ipaddress.ip_address(a) for a in known.get(n, ())} for n in names):
        return names, True, ""
    family = "AAAA" if ":" in address else "A"
    forwards = await asyncio.gather(*(client.query(n, family) for n in names if n))
    confirmed = any(ipaddress.ip_address(r.to_text()) == wanted for fwd in forwards for r in fwd.records)
    return names, confirmed, ""


async def _dnsbl(client: DnsClient, address: str, zone: str) -> DnsRecord:
    """RFC 5782: the reversed address under the list's zone; an A in 127/8 means listed, TXT says why."""
    qname = _dnsbl_name(address, zone)
    a, txt = await asyncio.gather(client.query(qname, "A"), client.query(qname, "TXT"))
    if a.outcome.is_negative:
        return DnsRecord(RecordKind.DNSBL, qname, address, RecordStatus.OK, f"not listed in {zone}")
    if a.outcome is not Outcome.OK:
        detail = f"{zone}: {a.reason or a.outcome.value}"
        return DnsRecord(RecordKind.DNSBL, qname, address, RecordStatus.ERROR, detail)
    codes = tuple(sorted(r.to_text() for r in a.records))
    reason = "; ".join(txt.texts()) if txt.outcome is Outcome.OK else ""
    listing = DnsblListing(zone, address, codes, reason)
    bad = [c for c in codes if not c.startswith("127.") or c.startswith("127.255.255.")]
    if bad:  # RFC 5782 2.1 / Spamhaus: outside 127/8 or 127.255.255.x is an error code, not a listing
        detail = f"{zone} answered {', '.join(codes)} (not a listing)"
        return DnsRecord(RecordKind.DNSBL, qname, address, RecordStatus.ERROR, detail, listing)
    detail = f"{zone}: {', '.join(codes)}" + (f" — {reason}" if reason else "")
    return DnsRecord(RecordKind.DNSBL, qname, address, RecordStatus.LISTED, detail, listing)


def _ptr_name(address: str) -> str:
    return dns.reversename.from_address(address).to_text()


def _dnsbl_name(address: str, zone: str) -> str:
    reverse = dns.reversename.from_address(address)
    base = dns.reversename.ipv6_reverse_domain if ":" in address else dns.reversename.ipv4_reverse_domain
    return f"{reverse.relativize(base).to_text()}.{normal_name(zone)}"


def _tlsa_name(host: str) -> str:
    return f"_25._tcp.{host}"


async def _tlsa(client: DnsClient, host: str) -> list[DnsRecord]:
    name = _tlsa_name(host)
    answer = await client.query(name, "TLSA")
    if answer.outcome.is_negative:
        return [DnsRecord(RecordKind.TLSA, name, "", RecordStatus.MISSING, authenticated=answer.authenticated)]
    if answer.outcome is not Outcome.OK:
        return [DnsRecord(RecordKind.TLSA, name, "", RecordStatus.ERROR, answer.reason or answer.outcome.value)]
    signed = "DNSSEC-authenticated" if answer.authenticated else "not DNSSEC-authenticated"
    out = []
    for rdata in answer.records:
        text = rdata.to_text()
        parsed = parse_tlsa(text)
        status = RecordStatus.OK if parsed is not None else RecordStatus.INVALID
        out.append(DnsRecord(RecordKind.TLSA, name, text, status, signed, parsed, answer.authenticated))
    return out


async def _tcp_refused(client: DnsClient) -> bool:
    """Is a TCP connect to the resolver refused outright? Tells "nothing there" from "silent"."""
    guard.check(client.resolver.address)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(client.resolver.address, client.resolver.port), min(client.timeout, 2.0)
        )
    except ConnectionRefusedError:
        return True
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return False
