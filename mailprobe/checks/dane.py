"""DANE for SMTP (RFC 7672): the TLSA records of an MX host against the certificates served on its port 25.

Also decides, for the TLS checks, whether DANE governs a port-25 session: DNSSEC-authenticated, usable TLSA
records for the host, and which of them the served chain matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from mailprobe.checks.catalogue import finding
from mailprobe.checks.defs import tls as t
from mailprobe.checks.framework import Check
from mailprobe.checks.places import host_of, place
from mailprobe.model import (
    Category,
    CertFacts,
    DnsRecord,
    Finding,
    HandshakeResult,
    ProbeStatus,
    RecordKind,
    RecordStatus,
    Report,
    Service,
    Severity,
)
from mailprobe.records.tlsa import Tlsa


class DaneOutcome(str, Enum):
    NONE = "none"  # no usable, authenticated TLSA records: DANE does not apply
    EE_MATCH = "dane-ee-match"  # a DANE-EE record matches the leaf: names, dates, issuer do not matter
    TA_MATCH = "dane-ta-match"  # a DANE-TA record matches a certificate above the leaf
    UNCHECKED = "unchecked"  # TLSA records apply, none checked matches, but some mailprobe cannot check may
    MISMATCH = "mismatch"  # TLSA records apply but none matches: DANE senders refuse


@dataclass(frozen=True, slots=True)
class Dane:
    outcome: DaneOutcome
    records: tuple[DnsRecord, ...] = ()  # the usable TLSA records of the host


def tlsa_for(report: Report, host: str) -> tuple[DnsRecord, ...]:
    name = f"_25._tcp.{host.rstrip('.').lower()}"
    return tuple(
        r
        for d in report.dns
        for r in d.records_of(RecordKind.TLSA)
        if r.status is RecordStatus.OK and r.name.rstrip(".").lower() == name
    )


def usable_tlsa(report: Report, host: str) -> tuple[DnsRecord, ...]:
    """The TLSA records of the host that DANE senders use (RFC 7672 3.1.3), whether or not mailprobe checks them."""
    return tuple(r for r in tlsa_for(report, host) if isinstance(r.parsed, Tlsa) and r.parsed.usable)


def authenticated(usable: tuple[DnsRecord, ...]) -> bool:
    """Whether DANE applies: senders use TLSA records only when DNSSEC-validated."""
    return bool(usable) and all(r.authenticated for r in usable)


def _digest(cert: CertFacts, selector: int, matching: int) -> str:
    """The digest of cert that a record of this selector and matching type holds; "" when not recorded."""
    if matching == 1:
        raw = cert.fingerprint_sha256 if selector == 0 else cert.spki_sha256
    else:
        raw = cert.fingerprint_sha512 if selector == 0 else cert.spki_sha512
    return raw.replace(":", "").lower()


def judge(record: Tlsa, chain: tuple[CertFacts, ...]) -> bool | None:
    """Whether the chain served matches the record: DANE-EE against the leaf, DANE-TA against any certificate
    above it. None when mailprobe cannot tell (matching type Full, or a report without SHA-512 digests)."""
    if not record.usable or not chain:
        return False
    if not record.supported:
        return None
    certs = chain[:1] if record.usage == 3 else chain[1:]
    digests = [_digest(cert, record.selector, record.matching) for cert in certs]
    if record.data in digests:
        return True
    return None if "" in digests else False


def matches(record: Tlsa, chain: tuple[CertFacts, ...]) -> bool:
    return judge(record, chain) is True


def _judged(records: tuple[DnsRecord, ...], chain: tuple[CertFacts, ...]) -> list[tuple[Tlsa, bool | None]]:
    return [(r.parsed, judge(r.parsed, chain)) for r in records if isinstance(r.parsed, Tlsa)]


def dane_for(report: Report, h: HandshakeResult) -> Dane:
    """Whether DANE governs this session, and how the served chain fares against the records."""
    if h.target.service is not Service.SMTP:
        return Dane(DaneOutcome.NONE)
    usable = usable_tlsa(report, h.target.host)
    if not authenticated(usable):
        return Dane(DaneOutcome.NONE, usable)
    judged = _judged(usable, h.tls.chain if h.tls is not None else ())
    if any(ok is True and record.usage == 3 for record, ok in judged):
        return Dane(DaneOutcome.EE_MATCH, usable)
    if any(ok is True for _, ok in judged):
        return Dane(DaneOutcome.TA_MATCH, usable)
    if any(ok is None for _, ok in judged):
        return Dane(DaneOutcome.UNCHECKED, usable)
    return Dane(DaneOutcome.MISMATCH, usable)


def dane_sessions(report: Report) -> Iterator[HandshakeResult]:
    """Port-25 sessions with hosts that publish TLSA records."""
    for h in report.handshakes:
        if h.target.service is Service.SMTP and tlsa_for(report, h.target.host):
            yield h


def _served(leaf: CertFacts, records: list[Tlsa]) -> str:
    """The leaf's digests, shortened, of the kinds the records hold."""
    text = f"certificate sha256 {leaf.fingerprint_sha256[:16]}…, SPKI sha256 {leaf.spki_sha256[:16]}…"
    if any(r.matching == 2 for r in records):
        text += f", certificate sha512 {leaf.fingerprint_sha512[:16]}…, SPKI sha512 {leaf.spki_sha512[:16]}…"
    return text


def _dane(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    usable = usable_tlsa(report, h.target.host)
    where, host = place(h), host_of(h)
    if h.tls is None or not h.tls.chain:
        # Only senders that validated the records insist on TLS; without DNSSEC this is SMTP-NO-STARTTLS's news.
        if authenticated(usable) and h.status in (
            ProbeStatus.SUCCESS, ProbeStatus.POST_TLS_ERROR, ProbeStatus.TLS_HANDSHAKE_ERROR
        ):  # fmt: skip
            why = h.tls_error or f"STARTTLS {h.starttls.value}"
            evidence = f"{len(usable)} DNSSEC-validated TLSA record(s); {why}"
            yield finding(t.DANE_NO_TLS, host, evidence, places=(where,))
        return
    judged = _judged(usable, h.tls.chain)
    if not judged or any(ok is not False for _, ok in judged):
        return  # a match, or a record mailprobe cannot check that may match: no mismatch to claim
    evidence = (
        f"TLSA {'; '.join(r.value[:24] + '…' for r in usable)} vs "
        f"{_served(h.tls.chain[0], [record for record, _ in judged])}"
    )
    if not authenticated(usable):
        # Senders ignore TLSA records they cannot validate; say so rather than cry critical.
        evidence += " (the TLSA answer was not DNSSEC-authenticated here)"
        yield finding(t.DANE_MISMATCH, host, evidence, places=(where,), severity=Severity.MEDIUM)
        return
    yield finding(t.DANE_MISMATCH, host, evidence, places=(where,))


CHECKS: tuple[Check[HandshakeResult], ...] = (Check("dane-match", Category.TLS, dane_sessions, place, _dane),)
