"""Hand-built results for judging tests: certificates, TLS sessions, handshakes, TLSA and MTA-STS records."""

from __future__ import annotations

import hashlib

from mailprobe.model import (
    Capability,
    CertFacts,
    DnsRecord,
    DomainDns,
    HandshakeResult,
    MxHost,
    MxStatus,
    ProbeStatus,
    RecordKind,
    RecordStatus,
    Service,
    SmtpFacts,
    SrvTarget,
    StartTlsOutcome,
    StsFetch,
    Target,
    TlsFacts,
    VerifyFailure,
)
from mailprobe.protocols.tls import hostname_matches
from mailprobe.records.mtasts import parse_sts_policy
from mailprobe.records.tlsa import parse_tlsa

PORTS = {Service.SMTP: 25, Service.SUBMISSION: 587, Service.SUBMISSIONS: 465, Service.IMAPS: 993}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def digest512(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


def cert(
    *names: str,
    days_left: int = 200,
    issuer: str = "CN=Public CA",
    key: str = "leaf",
    self_signed: bool = False,
    key_type: str = "EC",
    key_bits: int = 256,
) -> CertFacts:
    subject = f"CN={names[0]}" if names else "CN=unnamed"
    return CertFacts(
        subject=subject, issuer=subject if self_signed else issuer, serial="01", not_before="2026-01-01T00:00:00+00:00",
        not_after="2027-06-01T00:00:00+00:00", days_left=days_left, san=tuple(f"DNS:{n}" for n in names),
        key_type=key_type, key_bits=key_bits, signature_algorithm="ecdsa-with-SHA256",
        fingerprint_sha256=digest(f"cert {key} {names}"), spki_sha256=digest(f"spki {key}"), self_signed=self_signed,
        fingerprint_sha512=digest512(f"cert {key} {names}"), spki_sha512=digest512(f"spki {key}"),
    )  # fmt: skip


def tls(
    hostname: str, *chain: CertFacts, failure: VerifyFailure | None = None, legacy: tuple[str, ...] = ()
) -> TlsFacts:
    error = None if failure is None else f"certificate verify failed ({failure.value})"
    return TlsFacts(
        version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", cipher_bits=128, group=None, chain=chain,
        verified=failure is None, verify_error=error, hostname=hostname,
        hostname_match=bool(chain) and hostname_matches(chain[0], hostname), legacy_versions=legacy,
        verify_failure=failure,
    )  # fmt: skip


def session(
    host: str,
    service: Service = Service.SMTP,
    *,
    address: str = "203.0.113.25",
    origin: str = "mx",
    tls_facts: TlsFacts | None = None,
    starttls: StartTlsOutcome | None = None,
    before: tuple[Capability, ...] = (),
    greeting_host: str | None = None,
) -> HandshakeResult:
    """A successful handshake; with TLS facts unless tls_facts is given as None and starttls says otherwise."""
    if starttls is None:
        starttls = StartTlsOutcome.NOT_APPLICABLE if service.implicit_tls else StartTlsOutcome.OK
    smtp = SmtpFacts(greeting_host=greeting_host or host) if service.protocol.value == "smtp" else None
    return HandshakeResult(
        Target(host, address, PORTS.get(service, service.default_port), service, origin),
        ProbeStatus.SUCCESS,
        "handshake completed",
        10.0,
        banner=f"{greeting_host or host} ESMTP",
        greeting_code="220",
        capabilities_before=before,
        starttls=starttls,
        tls=tls_facts,
        smtp=smtp,
    )


def tlsa_record(host: str, value: str, *, authenticated: bool = True) -> DnsRecord:
    parsed = parse_tlsa(value)
    status = RecordStatus.OK if parsed is not None else RecordStatus.INVALID
    return DnsRecord(RecordKind.TLSA, f"_25._tcp.{host}", value, status, "", parsed, authenticated)


def sts_record(domain: str, mode: str, *mx: str, unmatched: tuple[str, ...] = ()) -> DnsRecord:
    body = "version: STSv1\nmode: {}\n{}max_age: 604800\n".format(mode, "".join(f"mx: {m}\n" for m in mx))
    fetched = StsFetch(parse_sts_policy(body), f"https://mta-sts.{domain}/.well-known/mta-sts.txt", "203.0.113.80",
                       unmatched)  # fmt: skip
    return DnsRecord(RecordKind.MTA_STS_POLICY, fetched.url, body, RecordStatus.OK, "", fetched)


def domain(name: str, *mx_hosts: str, records: tuple[DnsRecord, ...] = (), address: str = "203.0.113.25") -> DomainDns:
    hosts = tuple(MxHost(10 * (i + 1), host, (address,)) for i, host in enumerate(mx_hosts))
    return DomainDns(name, MxStatus.FOUND, "", 1.0, mx=hosts, records=records)


def srv_record(
    domain_name: str, label: str, target: str, port: int, service: Service, *, authenticated: bool
) -> DnsRecord:
    srv = SrvTarget(0, 1, port, target, service)
    value = f"0 1 {port} {target}."
    return DnsRecord(
        RecordKind.SRV, f"{label}.{domain_name}", value, RecordStatus.OK, service.value, srv, authenticated
    )
