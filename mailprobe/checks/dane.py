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
    MISMATCH = "mismatch"  # TLSA records apply but none matches: DANE senders refuse


@dataclass(frozen=True, slots=True)
class Dane:
    outcome: DaneOutcome
    records: tuple[DnsRecord, ...] = ()


def tlsa_for(report: Report, host: str) -> tuple[DnsRecord, ...]:
    name = f"_25._tcp.{host.rstrip('.').lower()}"
    return tuple(
        r
        for d in report.dns
        for r in d.records_of(RecordKind.TLSA)
        if r.status is RecordStatus.OK and r.name.rstrip(".").lower() == name
    )


def _digest(cert: CertFacts, selector: int) -> str:
    raw = cert.fingerprint_sha256 if selector == 0 else cert.spki_sha256
    return raw.replace(":", "").lower()


def matches(record: Tlsa, chain: tuple[CertFacts, ...]) -> bool:
    """DANE-EE against the leaf, DANE-TA against any certificate above it in the chain served (SHA2-256)."""
    if not record.supported or not chain:
        return False
    if record.usage == 3:
        return _digest(chain[0], record.selector) == record.data
    return any(_digest(cert, record.selector) == record.data for cert in chain[1:])


def dane_for(report: Report, h: HandshakeResult) -> Dane:
    """Whether DANE governs this session, and how the served chain fares against the records."""
    if h.target.service is not Service.SMTP:
        return Dane(DaneOutcome.NONE)
    usable = tuple(r for r in tlsa_for(report, h.target.host) if isinstance(r.parsed, Tlsa) and r.parsed.supported)
    if not usable or not all(r.authenticated for r in usable):
        return Dane(DaneOutcome.NONE, usable)  # senders use TLSA records only when DNSSEC-validated
    chain = h.tls.chain if h.tls is not None else ()
    matched = [r.parsed for r in usable if isinstance(r.parsed, Tlsa) and matches(r.parsed, chain)]
    if any(m.usage == 3 for m in matched):
        return Dane(DaneOutcome.EE_MATCH, usable)
    if matched:
        return Dane(DaneOutcome.TA_MATCH, usable)
    return Dane(DaneOutcome.MISMATCH, usable)


def dane_sessions(report: Report) -> Iterator[HandshakeResult]:
    """Port-25 sessions with hosts that publish TLSA records."""
    for h in report.handshakes:
        if h.target.service is Service.SMTP and tlsa_for(report, h.target.host):
            yield h


def _dane(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    records = tlsa_for(report, h.target.host)
    where, host = place(h), host_of(h)
    if h.tls is None or not h.tls.chain:
        if h.status in (ProbeStatus.SUCCESS, ProbeStatus.POST_TLS_ERROR, ProbeStatus.TLS_HANDSHAKE_ERROR):
            why = h.tls_error or f"STARTTLS {h.starttls.value}"
            yield finding(t.DANE_NO_TLS, host, f"{len(records)} TLSA record(s); {why}", places=(where,))
        return
    usable = [r for r in records if isinstance(r.parsed, Tlsa) and r.parsed.supported]
    if not usable or any(isinstance(r.parsed, Tlsa) and matches(r.parsed, h.tls.chain) for r in usable):
        return
    leaf = h.tls.chain[0]
    evidence = (
        f"TLSA {'; '.join(r.value[:24] + '…' for r in usable)} vs certificate sha256 "
        f"{leaf.fingerprint_sha256[:16]}…, SPKI sha256 {leaf.spki_sha256[:16]}…"
    )
    if not all(r.authenticated for r in usable):
        # Senders ignore TLSA records they cannot validate; say so rather than cry critical.
        evidence += " (the TLSA answer was not DNSSEC-authenticated here)"
        yield finding(t.DANE_MISMATCH, host, evidence, places=(where,), severity=Severity.MEDIUM)
        return
    yield finding(t.DANE_MISMATCH, host, evidence, places=(where,))


CHECKS: tuple[Check[HandshakeResult], ...] = (Check("dane-match", Category.TLS, dane_sessions, place, _dane),)
