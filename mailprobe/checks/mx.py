"""Checks of a domain's MX outcome and hosts, reverse DNS, DNSSEC and blocklists. Pure functions."""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import FindingKind, finding
from mailprobe.checks.defs import dns as d
from mailprobe.checks.framework import Check
from mailprobe.dns.names import nonpublic_reason
from mailprobe.model import (
    Category,
    DnsblListing,
    DnsRecord,
    DomainDns,
    Finding,
    MxHost,
    MxHostStatus,
    MxStatus,
    RecordKind,
    RecordStatus,
    Report,
    Severity,
)

_MX_OUTCOME: dict[MxStatus, FindingKind] = {
    MxStatus.NODATA: d.MX_NONE,
    MxStatus.NULL: d.MX_NULL,
    MxStatus.IMPLICIT: d.MX_IMPLICIT,
    MxStatus.NXDOMAIN: d.MX_NXDOMAIN,
    MxStatus.SERVFAIL: d.MX_SERVFAIL,
    MxStatus.REFUSED: d.MX_REFUSED,
    MxStatus.TIMEOUT: d.MX_TIMEOUT,
    MxStatus.ERROR: d.MX_ERROR,
}
_HOST_LOOKUP_FAILED = (
    MxHostStatus.TIMEOUT,
    MxHostStatus.SERVFAIL,
    MxHostStatus.REFUSED,
    MxHostStatus.REFERRAL,
    MxHostStatus.ERROR,
)

DomainHost = tuple[DomainDns, MxHost]


def domains(report: Report) -> Iterator[DomainDns]:
    yield from report.dns


def existing_domains(report: Report) -> Iterator[DomainDns]:
    """Domains that exist: an NXDOMAIN gets its MX-NXDOMAIN finding, not the noise of every record missing."""
    yield from (d for d in report.dns if d.status is not MxStatus.NXDOMAIN)


def domain_label(domain: DomainDns) -> str:
    return domain.domain


def mx_hosts(report: Report) -> Iterator[DomainHost]:
    for domain in report.dns:
        for host in domain.mx:
            yield domain, host


def host_label(subject: DomainHost) -> str:
    return subject[1].name


def _mx_outcome(report: Report, domain: DomainDns) -> Iterator[Finding]:
    kind = _MX_OUTCOME.get(domain.status)
    if kind is not None:
        yield finding(kind, domain.domain, domain.reason)
    if domain.null_mx_mixed:
        yield finding(d.MX_NULL_MIXED, domain.domain, "MX 0 . beside: " + ", ".join(h.name for h in domain.mx))
    for name in domain.duplicate_mx:
        yield finding(d.MX_DUPLICATE, domain.domain, f"{name} appears in more than one MX record")
    if domain.alias_of is not None:
        yield finding(d.DOMAIN_CNAME, domain.domain, f"{domain.domain} is an alias of {domain.alias_of}")


def _mx_host(report: Report, subject: DomainHost) -> Iterator[Finding]:
    _, host = subject
    label = f"MX {host.preference} {host.name}"
    if host.status is MxHostStatus.IP_LITERAL:
        yield finding(d.MX_IP_LITERAL, host.name, f"{label}. is an address written as a name")
    if host.status is MxHostStatus.CNAME_LOOP:
        yield finding(d.MX_CNAME_LOOP, host.name, f"{label}: CNAME loop")
    if host.cname_target is not None:
        yield finding(d.MX_CNAME, host.name, f"{label} is a CNAME for {host.cname_target}")
    if host.status is MxHostStatus.DANGLING:
        yield finding(d.MX_DANGLING, host.name, f"{label}: no A/AAAA record")
    elif host.status in _HOST_LOOKUP_FAILED:
        yield finding(d.MX_LOOKUP_FAILED, host.name, f"{label}: address lookup {host.status.value}")
    for address in host.addresses:
        reason = nonpublic_reason(address)
        if reason:
            # With --allow-nonpublic (a lab, a private network) the user expects it: note it, do not alarm.
            severity = Severity.INFO if report.context.allow_nonpublic else None
            yield finding(d.MX_NONPUBLIC, host.name, f"{host.name} -> {address} ({reason})", severity=severity)
    if host.addresses and not any(":" in a for a in host.addresses) and host.status is not MxHostStatus.IP_LITERAL:
        yield finding(d.MX_NO_IPV6, host.name, f"{host.name} has A records only: {', '.join(host.addresses)}")


def _reverse_dns(report: Report, subject: DomainHost) -> Iterator[Finding]:
    _, host = subject
    confirmed = dict(host.fcrdns)
    for address, ptr_name in host.ptr:
        if not ptr_name:
            yield finding(d.PTR_MISSING, address, f"{address} ({host.name}) has no PTR record")
        elif confirmed.get(address) is False:
            evidence = f"{address} PTR {ptr_name}, which does not resolve back to {address}"
            yield finding(d.PTR_MISMATCH, address, evidence)
    for address, outcome in host.ptr_errors:
        yield finding(d.PTR_ERROR, address, f"PTR lookup of {address}: {outcome}")


def _dnssec(report: Report, domain: DomainDns) -> Iterator[Finding]:
    if domain.authenticated is False:
        yield finding(d.DNSSEC_UNSIGNED, domain.domain, "MX answer without the AD bit")


def blocklist_records(report: Report) -> Iterator[DnsRecord]:
    for domain in report.dns:
        yield from domain.records_of(RecordKind.DNSBL)


def record_label(record: DnsRecord) -> str:
    return record.name


def _blocklist(report: Report, record: DnsRecord) -> Iterator[Finding]:
    listing = record.parsed if isinstance(record.parsed, DnsblListing) else None
    address = listing.address if listing is not None else record.value
    if record.status is RecordStatus.LISTED:
        yield finding(d.DNSBL_LISTED, address, f"{record.name}: {record.detail}")
    elif record.status is RecordStatus.ERROR:
        yield finding(d.DNSBL_ERROR, address, record.detail)


CHECKS: tuple[Check[DomainDns] | Check[DomainHost] | Check[DnsRecord], ...] = (
    Check("mx-outcome", Category.DNS, domains, domain_label, _mx_outcome),
    Check("mx-hosts", Category.DNS, mx_hosts, host_label, _mx_host),
    Check("reverse-dns", Category.DNS, mx_hosts, host_label, _reverse_dns),
    Check("dnssec", Category.DNS, existing_domains, domain_label, _dnssec),
    Check("blocklists", Category.DNS, blocklist_records, record_label, _blocklist),
)
